"""A plugin that registers a search space for the ``nagen`` command (the README's "Your own modules").

    nagen --plugin examples/my_spaces.py info --space chain4
    nagen --plugin examples/my_spaces.py generate --space chain4 --method random --n 10 --json

Importing this file registers ``chain4``: four op nodes in a fixed chain between input and output,
each one of three ops, so 3**4 = 81 cells, small enough to enumerate. A space needs no code of
its own when a spec describes it (``nagen.spaces.from_spec``, keys in ``nagen.spaces.custom``);
a space class, generator or predictor registers in the same way with ``@nagen.spaces.register``,
``@nagen.generators.register`` or ``@nagen.predictors.register``.
"""

import nagen.spaces

CHAIN4 = nagen.spaces.register_space(
    nagen.spaces.from_spec(
        {
            "name": "chain4",
            "description": "plugin example: 4 op nodes in a chain, 3 ops each (81 cells)",
            "ops": ["conv3x3", "conv1x1", "skip"],
            "num_nodes": 6,  # input and output included
            "topology": "fixed",
            "edges": [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]],
        }
    )
)
