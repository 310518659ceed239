"""The verdict machinery shared by every checker: run, compare, print one line, return True or False."""
import contextlib

import numpy as np


class Mismatch(Exception):
    """The student's answer differs from the library's; the message says what was expected and what was given."""


def require(condition, message):
    """Raise Mismatch(message) unless ``condition``."""
    if not condition:
        raise Mismatch(message)


def require_close(given, expected, what, rtol=1e-8, atol=1e-10):
    """Raise Mismatch unless ``given`` has ``expected``'s shape and values (within rtol, atol)."""
    given, expected = np.asarray(given), np.asarray(expected)
    require(given.shape == expected.shape, f"{what}: shape {expected.shape} expected, got {given.shape}")
    worst = float(np.max(np.abs(given - expected))) if given.size else 0.0
    require(np.allclose(given, expected, rtol=rtol, atol=atol),
            f"{what}: values differ from the library's by up to {worst:.3g}")


@contextlib.contextmanager
def forbidden(module, names, advice):
    """Within the block, calling ``module.<name>`` for any of ``names`` raises Mismatch(advice)."""
    saved = {name: getattr(module, name) for name in names}

    def refuse(*args, **kwargs):
        raise Mismatch(advice)

    try:
        for name in names:
            setattr(module, name, refuse)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def verdict(title, hint, body):
    """Run ``body()`` (which returns a short success note) and print the verdict; True if it passed."""
    try:
        note = body()
    except NotImplementedError:
        print(f"○ {title}: not implemented yet (replace `raise NotImplementedError` with your code and run the "
              "cell again)")
        return False
    except Mismatch as error:
        print(f"✗ {title}: {error}\n  hint: {hint}")
        return False
    except Exception as error:  # the student's code crashed: say how, never stop the notebook
        print(f"✗ {title}: your function raised {type(error).__name__}: {error}\n  hint: {hint}")
        return False
    print(f"✓ {title}: passed{f' ({note})' if note else ''}")
    return True
