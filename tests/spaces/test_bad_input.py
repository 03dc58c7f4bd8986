"""Bad input to the spaces' public methods raises nagen's named errors (regression tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.spaces
from nagen.errors import EncodingError, InvalidArchitectureError, InvalidArgumentError
from nagen.graph import ArchGraph
from nagen.spaces.nb101 import valid_topologies

NB201 = nagen.spaces.get("nb201")
NB101 = nagen.spaces.get("nb101")
MBV3 = nagen.spaces.get("mbv3")
CUSTOM = nagen.spaces.from_spec(
    {"name": "bad_input_var", "ops": ["conv3x3", "skip"], "num_nodes": 5, "topology": "variable",
     "network": {"C": 4, "N": 1}}
)
SPACES = [NB201, NB101, MBV3, CUSTOM]
CELL_201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
MBV3_STR = "k3e4,k5e6|k7e3,k3e3,k5e4|k3e6,k3e6|k5e3,k7e4,k3e3,k3e3|k7e6,k7e6,k5e4"


# ---------------------------------------------------------------------- protocol (base.py)
@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
@pytest.mark.parametrize("rng", [-1, 1.5, "0", True])
def test_bad_rng_is_a_named_error(space, rng) -> None:
    with pytest.raises(InvalidArgumentError, match="rng must be"):
        space.sample(1, rng)


def test_numpy_seed_and_generator_are_accepted() -> None:
    assert NB201.sample(3, np.int64(4)) == NB201.sample(3, 4) == NB201.sample(3, np.random.default_rng(4))


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_encode_of_a_non_sequence_is_an_encoding_error(space) -> None:
    with pytest.raises(EncodingError, match="sequence of architectures"):
        space.encode(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_decode_refuses_non_numeric_or_ragged_arrays(space) -> None:
    n, v = space.max_nodes, len(space.vocab)
    with pytest.raises(EncodingError, match="dtype object"):
        space.decode(np.zeros((1, n, v), dtype=object), np.zeros((1, n, n)))
    with pytest.raises(EncodingError, match="rectangular"):
        space.decode([[0.0], [0.0, 1.0]], np.zeros((1, n, n)))


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_decode_takes_bfloat16_tensors(space) -> None:
    archs = space.sample(3, 0)
    X, A = space.encode(archs)
    assert space.decode(X.to(torch.bfloat16), A.to(torch.bfloat16)) == archs


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
@pytest.mark.parametrize("shape", [(3,), "abc", (3, 0, 32), (3.5, 32, 32), (True, 32, 32), (1, 32, 32)])
def test_cost_checks_input_shape(space, shape) -> None:
    arch = space.sample(1, 0)[0]
    with pytest.raises(InvalidArgumentError, match="input_shape"):
        space.cost(arch, input_shape=shape)


@pytest.mark.parametrize("space", [NB201, CUSTOM], ids=lambda s: s.name)
def test_cell_networks_need_sizes_divisible_by_4(space) -> None:
    arch = space.sample(1, 0)[0]
    with pytest.raises(InvalidArgumentError, match="multiples of 4"):
        space.cost(arch, input_shape=(3, 30, 30))
    with pytest.raises(InvalidArgumentError, match="multiples of 4"):
        space.cost(arch, input_shape=(3, 30, 30), C=4, N=1)  # the generic (built-network) path


# ---------------------------------------------------------------------- nb201
@pytest.mark.parametrize("ids", [[1.5, 1, 2, 3, 4, 0], [True, 1, 2, 3, 4, 0], ["3", 1, 2, 3, 4, 0], None, 5, "012340"])
def test_nb201_from_op_ids_refuses_non_integers(ids) -> None:
    with pytest.raises(InvalidArchitectureError, match="six"):
        NB201.from_op_ids(ids)


def test_nb201_from_op_ids_takes_numpy_integers() -> None:
    assert NB201.from_op_ids(np.array([3, 3, 4, 1, 3, 1])) == NB201.parse(CELL_201)


def test_nb201_format_validates() -> None:
    with pytest.raises(InvalidArchitectureError):
        NB201.format(ArchGraph.from_string("input;conv3x3-bn-relu<0;output<1"))
    assert NB201.format(CELL_201) == CELL_201  # a string is parsed first, as everywhere else


@pytest.mark.parametrize(
    "text",
    [
        CELL_201.replace("avg_pool_3x3~1", "avg_pool_3x3~\u00b9"),  # superscript one: isdigit() but not int()
        CELL_201[:-1],  # missing the closing '|'
        CELL_201.replace("|+|", "||+||"),
        CELL_201 + "+",
    ],
)
def test_nb201_parse_refuses_malformed_strings(text) -> None:
    with pytest.raises(InvalidArchitectureError, match="malformed NB201"):
        NB201.parse(text)


def test_nb201_parse_tolerates_whitespace() -> None:
    assert NB201.parse(" " + CELL_201.replace("|+|", "| + |").replace("~0|", "~0 |") + "\n") == NB201.parse(CELL_201)


@pytest.mark.parametrize("ids", [[[0, 1, 2, 3, 4, 5]], [[0, 1, 2, 3, 4, -1]], [0, 1, 2, 3, 4, 0], [[0.0] * 6], "abc"])
def test_nb201_cost_table_checks_ids(ids) -> None:
    with pytest.raises(InvalidArgumentError, match="n x 6 integer array"):
        NB201.cost_table(ids)


# ---------------------------------------------------------------------- nb101
@pytest.mark.parametrize("index", [1.5, "3", True, None])
def test_nb101_cell_at_refuses_non_integers(index) -> None:
    with pytest.raises(InvalidArgumentError, match="cell index"):
        NB101.cell_at(index)


@pytest.mark.parametrize("index", [-1, NB101.size])
def test_nb101_cell_at_out_of_range_is_both_named_and_an_index_error(index) -> None:
    with pytest.raises(InvalidArgumentError, match="0..1293207") as info:
        NB101.cell_at(index)
    assert isinstance(info.value, IndexError)


def test_nb101_valid_topologies_refuses_a_string() -> None:
    with pytest.raises(InvalidArgumentError, match="2..7 nodes"):
        valid_topologies("3")  # type: ignore[arg-type]


@pytest.mark.parametrize("scale", [0.5, 2])
def test_nb101_from_matrix_refuses_non_binary_matrices(scale) -> None:
    matrix = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]]) * scale
    with pytest.raises(InvalidArchitectureError, match="only 0 and 1"):
        NB101.from_matrix(matrix, ["input", "maxpool3x3", "output"])


@pytest.mark.parametrize("momentum", ["x", True, float("nan"), 1.5])
def test_nb101_bn_momentum_is_checked(momentum) -> None:
    with pytest.raises(InvalidArgumentError, match="bn_momentum"):
        NB101.build("input;maxpool3x3<0;output<1", bn_momentum=momentum)


# ---------------------------------------------------------------------- mbv3
@pytest.mark.parametrize("options", [{"in_channels": 0}, {"in_channels": 1.5}, {"dropout": -0.1}, {"dropout": 2},
                                     {"dropout": "a"}])
def test_mbv3_build_options_are_checked(options) -> None:
    key = next(iter(options))
    with pytest.raises(InvalidArgumentError, match=key):
        MBV3.build(MBV3_STR, **options)
    with pytest.raises(InvalidArgumentError, match=key):
        MBV3.cost(MBV3_STR, **options)


def test_mbv3_tiny_forward_with_options() -> None:
    net = MBV3.build(MBV3_STR, 3, in_channels=1, dropout=0.0).eval()
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 3)


def test_mbv3_from_config_refuses_a_missing_list() -> None:
    config = MBV3.to_config(MBV3_STR)
    with pytest.raises(InvalidArchitectureError, match="'ks' must be a list"):
        MBV3.from_config(None, config["e"], config["d"])  # type: ignore[arg-type]


def test_mbv3_parse_refuses_non_ascii_digits() -> None:
    with pytest.raises(InvalidArchitectureError, match="malformed block"):
        MBV3.parse(MBV3_STR.replace("k3e4", "k\u0663e4"))  # Arabic-Indic three


@pytest.mark.parametrize("name, typo, allowed", [("nb201", "c", "'C'"), ("mbv3", "drop_out", "'dropout'"), ("nb101", "stem_chanels", "'stem_channels'")])
def test_an_unknown_build_option_is_named_with_the_allowed_ones(name, typo, allowed) -> None:
    from nagen.errors import UnknownOptionError

    sp = nagen.spaces.get(name)
    # also a TypeError, as Python's own check of a call would raise
    with pytest.raises(UnknownOptionError, match=rf"takes no option\(s\) \['{typo}'\](; did you mean [^;]*)?; its options are .*{allowed}") as info:
        sp.build(sp.sample(1, 0)[0], **{typo: 1})
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
