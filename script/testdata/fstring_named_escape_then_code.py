x = f"\N{DIGIT ONE}{eval('1')}"
y = "\N{DIGIT ONE}" "\N{LATIN SMALL LETTER A}"
