"""Rubin's eight schools (coaching effects and their standard errors), shared by the tests of
known standard errors (tests/model/test_families.py) and of the funnel plot."""

import pandas as pd

SCHOOLS = pd.DataFrame({"school": list("ABCDEFGH"), "y": [28, 8, -3, 7, -1, 1, 18, 12.0],
                        "s": [15, 10, 16, 11, 9, 11, 10, 18.0]})
