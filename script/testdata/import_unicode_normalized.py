import ｏｓ
