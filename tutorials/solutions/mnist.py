"""Tutorial 05: the step of a pixel, the confusion matrix, the most confident mistakes."""
import numpy as np

from ttrnn_np.data.mnist import pixel_permutation


def step_of_pixel(i, j, view):
    """The time step at which pixel (i, j) is read in the "row", "pixel" or "permuted" view."""
    if view == "row":
        return i
    t = 28 * i + j
    return t if view == "pixel" else int(np.argsort(pixel_permutation())[t])  # permuted: π(step) = t


def confusion_matrix(y_true, y_pred, K):
    """C (K, K) with C[a, b] = the number of images of class a predicted as b."""
    C = np.zeros((K, K), dtype=int)  # (K, K)
    np.add.at(C, (y_true, y_pred), 1)
    return C


def most_confident_mistakes(p, labels, k):
    """Indices of the (up to) k wrongly classified images with the highest predicted probability, most first."""
    wrong = np.nonzero(p.argmax(axis=1) != labels)[0]  # (w,)
    return wrong[np.argsort(-p[wrong].max(axis=1), kind="stable")][:k]  # (≤ k,)
