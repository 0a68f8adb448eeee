def (:
    ]]]
