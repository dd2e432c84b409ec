"""Batched fast parse (common.parse_files / parse_tables and their users): bit-identical values,
same errors."""
import io
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackkit.data.readers import load_dataset
from trackkit.data.readers.common import (fast_flags, parse_tables, read_flags_many, read_table, read_tables)
from trackkit.errors import DataError
from trackkit.eval import evaluate, read_results, write_got10k_results, write_pytracking_results
from trackkit.eval.results import SequenceResult
from trackkit.eval.synthetic import (perturbed_results, read_got10k_split_annotations, synthetic_dataset,
                                     write_got10k_split)

FORMATS = ["%.3f", "%.4f", "%.8f", "%.17g", "%.6e", "%.20e", "%r"]
finite = st.floats(allow_nan=False, allow_infinity=False)


def fmt(t):
    return repr(t[1]) if t[0] == "%r" else t[0] % t[1]


token = st.one_of(
    st.tuples(st.sampled_from(FORMATS), finite).map(fmt),
    st.tuples(st.sampled_from(FORMATS), st.floats(-1e4, 1e4)).map(fmt),  # box-like values
    st.integers(-10**20, 10**20).map(str),
    # decimal strings with many digits and exponents: beyond the 15-digit / 1e22 fast path
    st.tuples(st.integers(-10**25, 10**25), st.integers(-340, 310)).map(lambda t: f"{t[0]}e{t[1]}"),
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**30)).map(lambda t: f"-{t[0]}.{t[1]:030d}"),
    st.sampled_from(["0", "-0", "-0.0", ".5", "5.", "+1.25", "1E5", "1e-400", "4.9e-324", "2.2250738585072011e-308"]),
)


def bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def table_text(rows, delim=",") -> bytes:
    return "".join(delim.join(r) + "\n" for r in rows).encode()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.lists(token, min_size=3, max_size=3), min_size=1, max_size=8), min_size=1, max_size=4),
       st.sampled_from([",", "\t", " "]))
def test_values_are_bit_identical_to_float_and_loadtxt(files, delim):
    blobs = [table_text(rows, delim) for rows in files]
    out = parse_tables(blobs, 3, delim)
    for rows, blob, arr in zip(files, blobs, out):
        want = np.array([[float(t) for t in r] for r in rows])
        if not np.isfinite(want).all():  # e.g. 1e400: the fast path must refuse it
            assert arr is None
            continue
        assert arr is not None and arr.shape == want.shape
        np.testing.assert_array_equal(bits(arr), bits(want))
        ref = np.loadtxt(io.BytesIO(blob), delimiter=None if delim == " " else delim, ndmin=2)
        np.testing.assert_array_equal(bits(arr), bits(ref))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.one_of(token, st.sampled_from(["nan", "NaN", "-nan"])), min_size=4, max_size=4),
                min_size=1, max_size=6))
def test_nan_goes_to_the_exact_reader(tmp_path, rows):
    """Files holding NaN (legal in some files) are left to the per-file reader, which decides."""
    p = tmp_path / "t.txt"
    p.write_bytes(table_text(rows))
    want = np.array([[float(t) for t in r] for r in rows])
    (arr,) = parse_tables([p.read_bytes()], 4)
    if np.isfinite(want).all():
        np.testing.assert_array_equal(bits(arr), bits(want))
    else:
        assert arr is None


@pytest.mark.parametrize("blob, rows", [
    (b"1,2\n3,4", 2),                       # no final newline
    (b"1,2\n3,4\n\n\n", 2),                 # trailing blank lines
    (b"1,2\r\n3,4\r\n", 2),                 # CRLF
    (b"\xef\xbb\xbf1,2\n3,4\n", 2),         # UTF-8 BOM
    (b" 1 ,\t2\n3,4\n", 2),                 # spaces / tabs around values
])
def test_accepted_forms(blob, rows):
    (arr,) = parse_tables([blob], 2)
    assert arr.shape == (rows, 2) and arr[-1, 1] == 4


@pytest.mark.parametrize("blob", [
    b"", b"\n\n", b"1,2\n\n3,4\n", b"1,2\r3,4\n", b"1,2\n3\n", b"1,2\n3,4,5\n", b"1,2\n3,x\n", b"1,2\n3,\n",
    b"1,2\ninf,4\n", b"1,2\n1e400,4\n", b'1,"2"\n', b"1;2\n", b"1,2\n3,4\x0c\n", b"1_0,2\n", b"0x10,2\n", None,
])
def test_refused_forms(blob):
    """Anything but strict rows of finite decimals is left to the exact per-file parser."""
    good = b"5,6\n7,8\n"
    out = parse_tables([good, blob, good], 2)
    assert out[1] is None
    for a in (out[0], out[2]):  # one bad file does not cost the others the fast path
        np.testing.assert_array_equal(a, [[5, 6], [7, 8]])


def test_many_files_split_back_exactly():
    rng = np.random.default_rng(0)
    arrays = [np.round(rng.normal(0, 100, (int(n), 4)), 3) for n in rng.integers(1, 50, 40)]
    blobs = [b"".join(b",".join(b"%.3f" % v for v in row) + b"\n" for row in a) for a in arrays]
    blobs[7] = blobs[7].replace(b",", b";", 1)  # one malformed file in the middle
    out = parse_tables(blobs, 4, use_threads=True)
    for k, (a, b) in enumerate(zip(arrays, out)):
        if k == 7:
            assert b is None
        else:
            np.testing.assert_array_equal(bits(a), bits(b))


# ----------------------------------------------------------------------------- readers
def test_read_tables_matches_read_table_and_names_bad_line(tmp_path):
    files = []
    for k in range(5):
        p = tmp_path / f"gt{k}.txt"
        p.write_text("".join(f"{k}.5,{i}.25,10,{20 + i}\n" for i in range(4)))
        files.append(p)
    got = read_tables(files)
    for p, a in zip(files, got):
        np.testing.assert_array_equal(bits(a), bits(read_table(p)))
    files[3].write_text("1,2,3,4\n1,2,-3,4\n")
    with pytest.raises(DataError, match="negative box size") as e:
        read_tables(files)
    assert e.value.path == files[3] and e.value.line == 2
    files[3].write_text("1,2,3,4\n\n1,2,3,4\n")  # blank lines: read_table skips them
    np.testing.assert_array_equal(read_tables(files)[3], [[1, 2, 3, 4]] * 2)
    files[3].write_text("1,2,3,4\n1,2,3,a\n")
    with pytest.raises(DataError, match="non-numeric value 'a'") as e:
        read_tables(files)
    assert str(e.value).startswith(f"{files[3]}:2:")


def test_flags(tmp_path):
    a, b = tmp_path / "a.label", tmp_path / "b.label"
    a.write_text("0\n8\n3\n")
    b.write_text("0\n9\n")
    assert [x is None for x in fast_flags([a, b], max_value=8)] == [False, True]
    np.testing.assert_array_equal(read_flags_many([a], [3], 8)[0], [0, 8, 3])
    with pytest.raises(DataError, match="'9' is not an integer in 0..8") as e:
        read_flags_many([a, b], [3, 2], 8)
    assert e.value.line == 2
    with pytest.raises(DataError, match="has 3 labels but the sequence has 4 frames"):
        read_flags_many([a], [4], 8)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fast")
    ds = synthetic_dataset(5, 40, seed=11)
    write_got10k_split(tmp / "val", ds)
    res = perturbed_results(ds, seed=12, runs=3)
    write_got10k_results(tmp / "g", res)
    write_pytracking_results(tmp / "p", res)
    return tmp, ds, res


def per_file_only():
    return mock.patch("trackkit.eval.results.parse_files", lambda paths, *a, **k: [None] * len(paths))


@pytest.mark.parametrize("folder", ["g", "p"])
def test_result_sets_batched_equal_per_file(tree, folder):
    tmp = tree[0]
    fast = read_results(tmp / folder)
    with per_file_only():
        slow = read_results(tmp / folder)
    assert list(fast) == list(slow)
    for name in fast:
        assert [str(p) for p in fast[name].sources] == [str(p) for p in slow[name].sources]
        for a, b in zip(fast[name].runs, slow[name].runs):
            np.testing.assert_array_equal(bits(a), bits(b))
        np.testing.assert_array_equal(bits(fast[name].times), bits(slow[name].times))


def test_split_annotations_batched_equal_per_file(tree):
    tmp, ds, _ = tree
    fast = read_got10k_split_annotations(tmp / "val")
    with per_file_only():
        slow = read_got10k_split_annotations(tmp / "val")
    for a, b, s in zip(fast, slow, ds):
        np.testing.assert_array_equal(bits(a.boxes), bits(b.boxes))
        np.testing.assert_array_equal(a.labels["cover"], b.labels["cover"])
        np.testing.assert_array_equal(a.boxes, np.round(s.boxes, 4))
        assert a.attributes == b.attributes and a.resolution == s.resolution


def test_got10k_reader_batched_equals_per_file(tree):
    tmp = tree[0]
    fast = load_dataset(tmp / "val", check_frames=False)
    empty = lambda paths, *a, **k: [None] * len(paths)  # noqa: E731
    with mock.patch("trackkit.data.readers.got10k.fast_tables", empty), \
            mock.patch("trackkit.data.readers.got10k.fast_flags", empty):
        slow = load_dataset(tmp / "val", check_frames=False)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(bits(a.boxes), bits(b.boxes))
        assert a.labels.keys() == b.labels.keys() == {"cover", "absence", "cut_by_image"}
        for k in a.labels:
            np.testing.assert_array_equal(a.labels[k], b.labels[k])
            assert a.labels[k].dtype == b.labels[k].dtype


def test_malformed_result_among_many_names_file_and_line(tree, tmp_path):
    _, ds, res = tree
    write_got10k_results(tmp_path, res)
    bad = tmp_path / ds[2].name / f"{ds[2].name}_002.txt"
    lines = bad.read_text().splitlines()
    lines[6] = lines[6].replace(",", ";", 1)
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        evaluate(ds, tmp_path, "got10k")
    assert e.value.path == bad and e.value.line == 7
    lines[6] = "nan,1,2,3"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="NaN is not allowed") as e:
        evaluate(ds, tmp_path, "got10k")
    assert e.value.path == bad and e.value.line == 7


def test_time_files_with_nan_keep_their_nan(tmp_path):
    r = {"a": SequenceResult("a", [[[0, 0, 1, 1]] * 3], np.array([[0.5], [np.nan], [0.25]]))}
    write_got10k_results(tmp_path, r)
    back = read_results(tmp_path)["a"]
    assert np.isnan(back.times[1, 0]) and back.times[2, 0] == 0.25


meta_line = st.one_of(
    st.sampled_from(["object_class: car", "resolution: (1280, 720)", "anno_fps: 10Hz", "url: http://a/b%20c:d",
                     "motion_adverb: slowly", "", "   ", "# comment", "; c", "  indented: x", "\tcont", "nokey",
                     ": empty", "k:", "dup: 1", "dup: 2", "[OTHER]", "\x0ckey: v", "key  :  v  ", "[DEFAULT]",
                     "k: v\r"]),
    st.text(st.sampled_from("ab:[] \t#;%\r="), max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["[METAINFO]", "[METAINFO]\r", "[DEFAULT]", "[]", "[A]]", " [METAINFO]", "[A] x", "", "k: v"]),
       st.lists(meta_line, max_size=6))
def test_plain_meta_fast_path_agrees_with_configparser(header, lines):
    from trackkit.data.readers.got10k import _configparser_meta, _plain_meta

    text = "\n".join([header] + lines) + "\n"
    fast = _plain_meta(text)
    if fast is not None:
        assert fast == _configparser_meta(Path("meta_info.ini"), text)


def test_numbered_paths_behave_like_the_list(tmp_path):
    import pickle

    from trackkit.data.readers.common import NumberedImageFiles, NumberedPaths

    lazy = NumberedPaths(tmp_path, 12, "{:08d}.jpg", start=1)
    eager = [tmp_path / f"{i:08d}.jpg" for i in range(1, 13)]
    assert len(lazy) == 12 and list(lazy) == eager and lazy == eager
    assert lazy[0] == eager[0] and lazy[-1] == eager[-1] and lazy[np.int64(3)] == eager[3]
    assert lazy[2:9:3] == eager[2:9:3] and lazy[::-1] == eager[::-1]
    with pytest.raises(IndexError):
        lazy[12]
    assert pickle.loads(pickle.dumps(lazy)) == lazy
    frames = NumberedImageFiles(tmp_path, 2)
    with pytest.raises(DataError, match="frame 0 is missing") as e:
        frames.check()
    assert e.value.path == tmp_path / "00000001.jpg"


def test_mixed_formats_missing_files_and_bom_in_one_batch(tmp_path):
    """Files of several formats in one folder: each group parsed, each file exactly."""
    from trackkit.data.readers.common import parse_files

    rows = [[1.5, -2.25, 3.0, 4.125], [5.0, 6.0, 7.0, 8.0]]
    texts = {"a.txt": "1.5,-2.25,3,4.125\n5,6,7,8\n", "b.txt": "1.5\t-2.25\t3\t4.125\n5\t6\t7\t8",
             "c.txt": "\ufeff1.5,-2.25,3,4.125\r\n5,6,7,8\r\n\r\n", "d.txt": "1.5 -2.25 3 4.125\n5 6 7 8\n",
             "e.txt": "1.5,-2.25,3,4.125\n\n5,6,7,8\n"}
    for name, text in texts.items():
        (tmp_path / name).write_text(text, newline="")
    paths = [tmp_path / n for n in ["a.txt", "b.txt", "missing.txt", "c.txt", "d.txt", "e.txt"]]

    def classify(first):
        sep = next((d for d in "\t, " if d.encode() in first), None)
        return None if sep is None else (sep, 4)

    out = parse_files(paths, classify)
    for k in (0, 1, 3, 4):
        np.testing.assert_array_equal(out[k], rows)
    assert out[2] is None and out[5] is None  # missing; blank line inside (per-file parser decides)
