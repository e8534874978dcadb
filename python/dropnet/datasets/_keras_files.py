"""What the Keras data set loaders share: Keras's cache folder and the error naming the file to
download when one is missing (dropnet never downloads), reading ``.npz`` and pickled files
without running code from them, and the checks and shuffles of the common arguments."""

from __future__ import annotations

import io
import numbers
import os
import pickle
import tempfile
import zipfile
from collections.abc import Sequence

import numpy as np

from .._data import check_int

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _writable(folder: str) -> bool:
    """Whether Keras could write to ``folder``: it creates a missing Keras home, so a missing
    folder counts as writable when its nearest existing parent is."""
    if not folder:
        return False
    folder = os.path.abspath(folder)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return os.access(folder, os.W_OK)


def keras_datasets_dir() -> str:
    """The folder Keras 3 keeps downloaded data sets in, by Keras's rule: ``$KERAS_HOME``
    when set, else ``~/.keras`` (``/tmp/.keras`` when the home folder is not writable), then
    ``datasets``; when that Keras home is not writable either, Keras's downloads go to
    ``/tmp/.keras/datasets`` instead, so that is where they are read."""
    if "KERAS_HOME" in os.environ:
        home = os.path.expanduser(os.environ["KERAS_HOME"])
    else:
        user = os.path.expanduser("~")
        home = os.path.join(user if os.access(user, os.W_OK) else "/tmp", ".keras")
    if not _writable(home):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return os.path.join(home, "datasets")


def not_downloaded(what: str, downloads: Sequence[tuple[str, str]], alternative: str = ""):
    """The FileNotFoundError of a loader whose files are missing: each (URL, full path) to
    download, then ``alternative`` (another layout that is also read)."""
    steps = "; ".join(f"download {url} and save it as {path}" for url, path in downloads)
    files = "file" if len(downloads) == 1 else "files"
    return FileNotFoundError(
        f"{what}: data set {files} not found, and dropnet does not download: {steps}"
        f"{alternative}. Files Keras has downloaded are read where Keras keeps them "
        "($KERAS_HOME/datasets, else ~/.keras/datasets)."
    )


def check_path(path, what: str) -> str:
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    raise TypeError(
        f"{what}(path): expected a file name or path (str or os.PathLike), received {path!r}"
    )


def cached_files(what: str, files: Sequence[tuple[str | os.PathLike, str]]) -> list[str]:
    """The full paths of (path, origin URL) pairs, each path relative to Keras's data set
    folder or absolute; raises the error naming every missing one."""
    folder = keras_datasets_dir()
    paths = [os.path.join(folder, check_path(path, what)) for path, _ in files]
    missing = [(url, path) for path, (_, url) in zip(paths, files) if not os.path.isfile(path)]
    if missing:
        raise not_downloaded(what, missing)
    return paths


# numpy's array-rebuilding function, under whichever module this numpy defines it in
_RECONSTRUCT = np.empty(0).__reduce__()[0]
# The only callables a pickled NumPy array names: an object array (the ragged word sequences
# of IMDB and Reuters) and the pixels of a CIFAR batch are rebuilt from these alone. Files
# written under numpy < 2 spell the module numpy.core, newer ones numpy._core.
_ARRAY_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and plain values (lists, dicts, numbers, strings) only: a pickle
    naming any other callable is refused before anything is called, so a tampered file cannot
    run code."""

    def __init__(self, file, source: str, encoding: str = "ASCII"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return _ARRAY_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self.source}: refused to load {module}.{name}; a data set file holds only "
                "NumPy arrays and plain values, so this one is damaged or was tampered with"
            ) from None


def load_pickle(file, source: str, encoding: str = "ASCII"):
    """The value pickled in ``file``, NumPy arrays and plain values allowed (see
    _ArrayUnpickler); ``source`` names the file in errors."""
    return _ArrayUnpickler(file, source, encoding).load()


def _read_npy(file: io.BytesIO, source: str) -> np.ndarray:
    version = np.lib.format.read_magic(file)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"{source}: unsupported .npy format version {version}")
    # 3.0 differs from 2.0 only in the header's text encoding, which the 2.0 reader handles
    # for the ASCII headers numpy writes
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(file)
    if not dtype.hasobject:
        file.seek(0)
        return np.lib.format.read_array(file, allow_pickle=False)
    array = load_pickle(file, source)
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ValueError(f"{source}: expected a pickled array of shape {shape}")
    return array


def load_npz(path: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of a .npz file; object arrays (stored pickled) are rebuilt with
    load_pickle's restrictions, never with np.load(allow_pickle=True)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not a .npz file (a zip archive of .npy arrays)") from None
    arrays = {}
    with archive:
        for name in names:
            try:
                member = archive.open(name + ".npy")
            except KeyError:
                raise ValueError(
                    f"{path}: no array {name!r}; expected the arrays {', '.join(names)}"
                ) from None
            with member:
                arrays[name] = _read_npy(io.BytesIO(member.read()), f"{path}:{name}")
    return arrays


def check_optional_int(value, what: str, minimum: int) -> int | None:
    return None if value is None else check_int(value, what, minimum)


def check_seed(seed, what: str) -> int | None:
    """A seed numpy's RandomState takes: None (fresh entropy, as in Keras) or an int in
    [0, 2**32 - 1]."""
    return None if seed is None else check_int(seed, what, 0, 2**32 - 1)


def check_test_split(test_split, what: str):
    """A fraction in [0, 1), returned as given: Keras computes the split in the argument's
    own type, whose rounding can move the boundary by one sample."""
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real):
        raise TypeError(f"{what}: expected a float in [0, 1), received {test_split!r}")
    if not 0 <= float(test_split) < 1:
        raise ValueError(f"{what}: expected a float in [0, 1), received {test_split!r}")
    return test_split


def train_size(n: int, test_split) -> int:
    """How many of ``n`` shuffled samples Keras puts in the training split (the rest test)."""
    return int(n * (1 - test_split))


def permutations(seed: int | None, *sizes: int) -> list[np.ndarray]:
    """Keras's shuffles: one legacy RandomState(seed) (Mersenne Twister, as Keras uses, so
    the orders are Keras's exactly) permutes ``range(size)`` for each size in turn."""
    rng = np.random.RandomState(seed)
    return [rng.permutation(size) for size in sizes]
