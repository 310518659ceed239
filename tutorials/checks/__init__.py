"""Checkers for the tutorials' exercises: each runs a student's function against the library.

A checker prints one verdict and returns True (passed) or False (not implemented yet, wrong, or raised):

    ✓ TT-SVD: passed on 4 tensors (ranks and error bound match tt.tt_svd)
    ○ TT-SVD: not implemented yet (replace `raise NotImplementedError` with your code and run the cell again)
    ✗ TT-SVD: ranks (1, 3, 3, 1) expected for the smooth 6×6×6×6 tensor at eps = 1e-06, got (1, 6, 6, 1)
      hint: keep the smallest rank whose dropped singular values have norm ≤ δ = eps·‖A‖/√(d − 1)

A stub that raises NotImplementedError never stops a notebook, so every tutorial runs top to bottom before
anyone has solved anything.  One module per tutorial; the solutions are in ``tutorials/solutions/``.
"""
