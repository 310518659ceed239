"""ttrnn_np.experiments.predictions: probabilities of a model, the confusion matrix, the surest mistakes."""
import numpy as np
import pytest

from ttrnn_np import rnn
from ttrnn_np.data.mnist import as_sequences, load_mnist_splits
from ttrnn_np.experiments import mnist, predictions


def test_probabilities_are_the_softmax_of_the_models_logits_in_any_batch_size():
    config = mnist.MnistConfig(layout="joint", cores=2, rank=2, hidden_size=8, data="mini")
    params = rnn.init_model(mnist.build_model(config), np.random.default_rng(0), config.dtype)
    images = load_mnist_splits("mini").test.images[:7]  # (7, 28, 28)
    p = predictions.predict_proba(config, params, images, batch_size=3)  # (7, 10)
    logits = np.asarray(rnn.forward(mnist.build_model(config), params, as_sequences(images, "row",
                                                                                     dtype=config.dtype)))
    assert p.shape == (7, 10) and np.allclose(p.sum(axis=1), 1)
    assert np.array_equal(p.argmax(axis=1), logits.argmax(axis=1))


def test_the_confusion_matrix_counts_repeated_pairs_rows_true_columns_predicted():
    C = predictions.confusion_matrix([0, 0, 0, 2], [1, 1, 0, 0], K=3)
    assert C.tolist() == [[1, 2, 0], [0, 0, 0], [1, 0, 0]]
    with pytest.raises(ValueError, match="same shape, got \\(2,\\) and \\(3,\\)"):
        predictions.confusion_matrix([0, 1], [0, 1, 2])


def test_the_most_confident_mistakes_come_first_and_correct_answers_never():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])  # (4, 2)
    labels = np.array([1, 0, 1, 1])  # wrong: 0 (0.9), 1 (0.8), 3 (0.7)
    assert predictions.most_confident_mistakes(p, labels, 2).tolist() == [0, 1]
    assert predictions.most_confident_mistakes(p, labels, 10).tolist() == [0, 1, 3]
