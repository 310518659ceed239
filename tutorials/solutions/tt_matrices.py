"""Tutorial 02: an entry of a TT-matrix, the product left to right, the break-even rank."""
import numpy as np


def entry(cores, i, j):
    """W[i, j] = G_0[:, i_0, j_0, :] ⋯ G_{d−1}[:, i_{d−1}, j_{d−1}, :]."""
    m = [G.shape[1] for G in cores]
    n = [G.shape[2] for G in cores]
    i_digits, j_digits = np.unravel_index(i, m), np.unravel_index(j, n)
    product = np.ones((1, 1))  # (1, r_0)
    for G, i_k, j_k in zip(cores, i_digits, j_digits):
        product = product @ G[:, i_k, j_k, :]  # (1, r_{k+1})
    return float(product[0, 0])


def matmul_ltr(X, cores):
    """X·W (B, N) by a left-to-right sweep; the carry is Z[b, n_<k, r_k, m_≥k]."""
    B = X.shape[0]
    Z = X.reshape(B, 1, 1, -1)  # (B, N_<0 = 1, r_0 = 1, M)
    for k, G in enumerate(cores):
        r_k, m_k, n_k, r_next = G.shape
        Z = Z.reshape(B, Z.shape[1], r_k, m_k, -1)  # (B, N_<k, r_k, m_k, M_>k)
        Z = np.einsum("bprmq,rmns->bpnsq", Z, G)  # (B, N_<k, n_k, r_{k+1}, M_>k)
        Z = Z.reshape(B, Z.shape[1] * n_k, r_next, -1)  # (B, N_≤k, r_{k+1}, M_>k)
    return Z.reshape(B, -1)  # (B, N)


def break_even_rank(m, n):
    """The smallest uniform rank R whose cheaper sweep needs ≥ 2MN FLOPs per sample."""
    d, dense = len(m), 2 * int(np.prod(m)) * int(np.prod(n))

    def flops(R):
        r = [1] + [R] * (d - 1) + [1]
        ltr = sum(2 * r[k] * r[k + 1] * int(np.prod(n[:k + 1])) * int(np.prod(m[k:])) for k in range(d))
        rtl = sum(2 * r[k] * r[k + 1] * int(np.prod(m[:k + 1])) * int(np.prod(n[k:])) for k in range(d))
        return min(ltr, rtl)

    R = 1
    while flops(R) < dense:
        R += 1
    return R
