"""Experiments: data preparation, model, training, evaluation and results files for the paper's studies.

``mnist``       sequential MNIST (row, pixel, permuted pixel): config, data, model, training, results.
``mnist_cli``   the ``ttrnn mnist`` command: options, recipes, the end-of-run table.
``speaker``     speaker verification on the LibriSpeech sample (GE2E, EER).
``progress``    the per-epoch progress bar and epoch lines of a training run.
``report``      tables, CSV files and plots over results JSON files.
``runtime``     glibc malloc tuning, BLAS threads, and the machine record written into every results file.
``stability``   the row-MNIST stability study's runs and measurements (scripts/mnist_stability.py, tutorial 07).
``predictions`` a trained classifier's probabilities, confusion matrix and surest mistakes (tutorial 05).
``timing``      functions timed in turn, round after round (tutorials 02, 04, 08).
"""
