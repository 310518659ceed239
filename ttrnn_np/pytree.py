"""Parameter pytrees: nested dicts / lists / tuples with arrays at the leaves.

A model's parameters are one pytree, e.g.::

    {"layers": [{"W_x": [G_0, G_1, G_2], "W_h": [...], "b": b}, ...], "head": {"W": [...], "b": b}}

(what ``rnn.init_model`` builds: one dict per stacked layer, then the head), where each ``G_k`` is a TT core
(an array) and a list of cores is simply a list node; a dense layout holds one array instead of the list.  autograd
differentiates such trees natively (the gradient has the same structure), so every training utility
(optimizers, clipping, checkpoints) is written as a function over trees.

Vocabulary:

* **node**: a ``dict`` (keys are visited in insertion order), ``list`` or ``tuple``; subclasses are
  rebuilt as the base type.  Everything else is a **leaf** (usually an ``ndarray``).
* **path**: the keys / indices from the root to a leaf joined by ``/``, e.g. ``layers/0/W_x/1``.  Paths
  name arrays inside checkpoints, so flattening requires string dict keys without ``/``.
* **structure** (``treedef``): the tree with its leaves removed, as plain JSON-able data:
  a leaf is ``None``, a dict is ``{"dict": {key: sub}}``, a list ``{"list": [sub, ...]}``,
  a tuple ``{"tuple": [sub, ...]}``.

Norms: for leaves x_l,  global_norm = sqrt(sum_l sum_i x_l[i]^2), accumulated in float64.
"""
import math

import numpy as np

__all__ = ["tree_map", "tree_leaves", "tree_flatten", "tree_unflatten", "tree_zeros_like", "global_norm",
           "num_params"]

_NODE_KINDS = (("dict", dict), ("list", list), ("tuple", tuple))


def _kind(node):
    """'dict', 'list', 'tuple' or 'leaf'."""
    for name, cls in _NODE_KINDS:
        if isinstance(node, cls):
            return name
    return "leaf"


def _join(path, key):
    return f"{path}/{key}" if path else str(key)


def _describe(node):
    """A one-phrase summary of a node, for error messages."""
    kind = _kind(node)
    if kind == "dict":
        return f"dict with keys {list(node)}"
    if kind in ("list", "tuple"):
        return f"{kind} of {len(node)}"
    shape = getattr(node, "shape", None)
    return f"leaf {type(node).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def _check_same_node(path, a, b):
    kind = _kind(a)
    same = kind == _kind(b) and (
        kind == "leaf"
        or (kind == "dict" and set(a) == set(b))
        or (kind in ("list", "tuple") and len(a) == len(b))
    )
    if not same:
        raise ValueError(f"tree structures differ at '{path or '<root>'}': {_describe(a)} vs {_describe(b)}")


def _map(f, path, tree, rest):
    for other in rest:
        _check_same_node(path, tree, other)
    kind = _kind(tree)
    if kind == "dict":
        return {k: _map(f, _join(path, k), tree[k], [o[k] for o in rest]) for k in tree}
    if kind in ("list", "tuple"):
        kids = [_map(f, _join(path, i), x, [o[i] for o in rest]) for i, x in enumerate(tree)]
        return kids if kind == "list" else tuple(kids)
    return f(tree, *rest)


def tree_map(f, tree, *rest):
    """Apply ``f(leaf, *other_leaves)`` leafwise; all trees must share ``tree``'s structure.

    >>> tree_map(lambda p, g: p - 0.1 * g, params, grads)      # one SGD step
    """
    return _map(f, "", tree, rest)


def tree_leaves(tree):
    """All leaves in flattening order (dict insertion order, then list / tuple order)."""
    kind = _kind(tree)
    if kind == "leaf":
        return [tree]
    children = tree.values() if kind == "dict" else tree
    return [leaf for child in children for leaf in tree_leaves(child)]


def _flatten(node, path, flat):
    kind = _kind(node)
    if kind == "leaf":
        flat[path] = node
        return None
    if kind == "dict":
        for key in node:
            if not isinstance(key, str) or "/" in key:
                raise ValueError(f"tree_flatten needs string dict keys without '/', "
                                 f"got {key!r} at '{path or '<root>'}'")
        return {"dict": {k: _flatten(v, _join(path, k), flat) for k, v in node.items()}}
    return {kind: [_flatten(x, _join(path, i), flat) for i, x in enumerate(node)]}


def tree_flatten(tree):
    """Flatten to ``(flat, treedef)``: ``flat`` maps path -> leaf in leaf order, ``treedef`` is JSON-able.

    >>> tree_flatten({"layers": [{"W_x": [A, B]}], "b": c})
    ({'layers/0/W_x/0': A, 'layers/0/W_x/1': B, 'b': c},
     {'dict': {'layers': {'list': [{'dict': {'W_x': {'list': [None, None]}}}]}, 'b': None}})
    """
    flat = {}
    treedef = _flatten(tree, "", flat)
    return flat, treedef


def tree_paths(treedef):
    """The leaf paths a ``treedef`` describes, in leaf order."""
    return _paths(treedef, "")


def _paths(treedef, path):
    if treedef is None:
        return [path]
    kind, children = _node_of(treedef, path)
    items = children.items() if kind == "dict" else enumerate(children)
    return [p for key, sub in items for p in _paths(sub, _join(path, key))]


def _node_of(treedef, path):
    """Validate one structure node and return ``(kind, children)``."""
    if isinstance(treedef, dict) and len(treedef) == 1:
        (kind, children), = treedef.items()
        expected = dict if kind == "dict" else list
        if kind in ("dict", "list", "tuple") and isinstance(children, expected):
            return kind, children
    raise ValueError(f"not a tree structure at '{path or '<root>'}': expected None, {{'dict': {{...}}}}, "
                     f"{{'list': [...]}} or {{'tuple': [...]}}, got {treedef!r:.80}")


def _unflatten(treedef, path, flat):
    if treedef is None:
        return flat[path]
    kind, children = _node_of(treedef, path)
    if kind == "dict":
        return {k: _unflatten(sub, _join(path, k), flat) for k, sub in children.items()}
    kids = [_unflatten(sub, _join(path, i), flat) for i, sub in enumerate(children)]
    return kids if kind == "list" else tuple(kids)


def tree_unflatten(treedef, flat):
    """Rebuild a tree from its ``treedef`` and a mapping path -> leaf (a dict, or an open ``.npz``)."""
    paths = tree_paths(treedef)
    missing = [p for p in paths if p not in flat]
    extra = sorted(set(flat) - set(paths))
    if missing or extra:
        raise ValueError(f"leaves do not match the structure: missing {missing[:3]}, unexpected {extra[:3]} "
                         f"(structure has {len(paths)} leaves, got {len(flat)})")
    return _unflatten(treedef, "", flat)


def tree_zeros_like(tree):
    """A tree of zero arrays with the shapes and dtypes of ``tree``'s leaves."""
    return tree_map(np.zeros_like, tree)


def global_norm(tree):
    """sqrt(sum over all leaves of the squared entries), as a Python float (float64 accumulation)."""
    total = 0.0
    for leaf in tree_leaves(tree):
        x = np.asarray(leaf, dtype=np.float64).ravel()  # (size,)
        total += float(np.dot(x, x))
    return math.sqrt(total)


def num_params(tree):
    """Total number of scalar entries over all leaves: of a model's parameters, a layer, or one list of TT cores."""
    return sum(int(np.size(leaf)) for leaf in tree_leaves(tree))
