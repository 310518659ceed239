"""Solutions of the tutorials' exercises, one module per tutorial (try first: the checkers in ``checks/`` tell you
when you are right).  The test suite runs every checker on these."""
