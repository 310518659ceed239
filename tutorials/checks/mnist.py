"""Checkers for tutorial 05: which step reads a pixel, the confusion matrix, the most confident mistakes."""
import numpy as np

from ttrnn_np.data.mnist import as_sequences
from ttrnn_np.experiments import predictions

from ._verdict import forbidden, require, require_close, verdict


def step_of_pixel(student):
    """student(i, j, view) → the time step t at which pixel (i, j) is read in the row, pixel or permuted view."""
    def body():
        rng = np.random.default_rng(51)
        for view in ("row", "pixel", "permuted"):
            for i, j in [(14, 14), (0, 0), (27, 27)] + [tuple(v) for v in rng.integers(0, 28, (4, 2))]:
                image = np.zeros((1, 28, 28), np.uint8)  # (1, 28, 28)
                image[0, i, j] = 255
                X = as_sequences(image, view)  # (1, T, F)
                expected = int(np.argmax(X[0].max(axis=1)))  # the step whose features hold the bright pixel
                given = student(int(i), int(j), view)
                require(given == expected, f"pixel ({i}, {j}) in the {view} view: step {expected} expected, "
                        f"got {given}")
        return "7 pixels in each of the 3 views, against as_sequences"
    return verdict("the step of a pixel", "row view: a whole row per step; pixel view: t = 28·i + j; permuted: "
                   "the step t with π(t) = 28·i + j, i.e. np.argsort(pixel_permutation())[28·i + j]", body)


def confusion_matrix(student):
    """student(y_true, y_pred, K) → C (K, K), C[a, b] = how many images of class a were predicted as b."""
    def body():
        rng = np.random.default_rng(52)
        for K, n in ((10, 500), (3, 7), (4, 0)):
            y_true, y_pred = rng.integers(0, K, n), rng.integers(0, K - 1, n)  # (n,) each; class K−1 never predicted
            expected = predictions.confusion_matrix(y_true, y_pred, K)  # (K, K)
            with forbidden(predictions, ["confusion_matrix"], "count the pairs yourself"):
                given = student(y_true.copy(), y_pred.copy(), K)
            require_close(given, expected,
                          f"{n} labels, K = {K} (rows: true class, columns: predicted)", rtol=0, atol=0)
        return "K = 10, 3 and 4, including an empty set and a class never predicted"
    return verdict("the confusion matrix", "rows are the true class, columns the predicted one; np.add.at adds 1 "
                   "at every (y_true, y_pred) pair, repeats included", body)


def most_confident_mistakes(student):
    """student(p, labels, k) → indices of the (up to) k wrong predictions with the highest probability of the
    predicted class, most confident first; p (n, K) are class probabilities."""
    def body():
        rng = np.random.default_rng(53)
        for n, K, k in ((200, 10, 6), (30, 3, 50), (5, 4, 2)):
            p = rng.dirichlet(np.full(K, 0.3), n)  # (n, K)
            labels = np.where(rng.random(n) < 0.5, p.argmax(1), rng.integers(0, K, n))  # (n,)
            expected = predictions.most_confident_mistakes(p, labels, k)  # (≤ k,)
            with forbidden(predictions, ["most_confident_mistakes"], "sort the mistakes yourself"):
                given = np.asarray(student(p.copy(), labels.copy(), k))
            require(given.shape == expected.shape and np.array_equal(given, expected),
                    f"{n} images, K = {K}, k = {k}: indices {expected[:6].tolist()}{'…' if len(expected) > 6 else ''}"
                    f" expected, got {given[:6].tolist()}{'…' if given.size > 6 else ''}")
        return "3 cases, including fewer mistakes than k"
    return verdict("the most confident mistakes", "keep only the images whose argmax differs from the label, sort "
                   "them by the probability of the predicted class (max over k), descending, take the first k", body)
