"""CIFAR-10 as Keras's ``keras.datasets.cifar10``: 50,000 training and 10,000 test colour
images of 32x32 pixels, labelled 0-9 (airplane, automobile, bird, cat, deer, dog, frog,
horse, ship, truck)."""

from __future__ import annotations

import os
import posixpath
import tarfile

import numpy as np

from ._keras_files import keras_datasets_dir, load_pickle, not_downloaded

__all__ = ["load_data"]

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"  # the archive's one folder
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"
ALL_BATCHES = (*BATCHES, TEST_BATCH)
# Where the data may lie in Keras's data set folder, in the order they are tried: the
# archive extracted by Keras 3 (under its own folder), by Keras 2 or by hand; then the
# archive itself as Keras 3 saves it, under its download name, and as Keras 2 saves it.
EXTRACTED = (posixpath.join("cifar-10-batches-py-target", FOLDER), FOLDER)
ARCHIVES = ("cifar-10-batches-py-target_archive", ARCHIVE, FOLDER + ".tar.gz")


def _batch(batch, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (n, 3072) uint8, labels (n,) uint8) of an unpickled batch: a dict whose keys
    are bytes or str (Python 2 wrote them)."""
    if isinstance(batch, dict):
        batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
        data, labels = batch.get("data"), np.asarray(batch.get("labels"))
        if (
            isinstance(data, np.ndarray)
            and data.dtype == np.uint8
            and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32
            and labels.shape == (len(data),)
            and labels.dtype.kind in "iu"
            and np.all((labels >= 0) & (labels <= 255))
        ):
            return data, labels.astype(np.uint8)
    raise ValueError(
        f"{source}: not a CIFAR-10 batch (a pickled dict of 'data', uint8 rows of 3072 "
        "pixels, and 'labels', one int per row)"
    )


def _images(batches, names) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 32, 32, 3), y (n, 1)) of the named batches, in order."""
    pixels = np.concatenate([batches[name][0] for name in names])
    labels = np.concatenate([batches[name][1] for name in names])
    # a row holds the red plane, then the green, then the blue, each plane row by row
    return pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.reshape(-1, 1)


def _safe(member: tarfile.TarInfo) -> bool:
    """A plain file or folder inside the archive: nothing a reader extracting it would
    write elsewhere (absolute names, '..', links, devices)."""
    name = posixpath.normpath(member.name)
    return (
        (member.isfile() or member.isdir())
        and not posixpath.isabs(name)
        and ".." not in name.split("/")
    )


def _read_folder(folder: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    batches = {}
    for name in ALL_BATCHES:
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            batches[name] = _batch(load_pickle(f, path, "latin1"), path)
    return batches


def _read_archive(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The batches read straight from the .tar.gz, nothing extracted to disk; an archive
    holding any unsafe member is refused whole, as a sign it was tampered with."""
    wanted = {posixpath.join(FOLDER, name): name for name in ALL_BATCHES}
    batches = {}
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if not _safe(member):
                    raise ValueError(
                        f"{path}: refused: the archive holds {member.name!r}, which is not a "
                        f"plain file or folder inside it; CIFAR-10's archive holds only "
                        f"{FOLDER}/ and its files"
                    )
                name = wanted.get(posixpath.normpath(member.name))
                if name is not None and member.isfile():
                    source = f"{path}:{member.name}"
                    f = archive.extractfile(member)  # closed with the archive
                    batches[name] = _batch(load_pickle(f, source, "latin1"), source)
    except tarfile.TarError as exc:
        raise ValueError(f"{path}: not a readable tar archive ({exc})") from None
    missing = [member for member, name in wanted.items() if name not in batches]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} in the archive")
    return batches


def load_data():
    """``(x_train, y_train), (x_test, y_test)`` from CIFAR-10's Python batches in Keras's
    data set folder (extracted, or the .tar.gz itself; see EXTRACTED and ARCHIVES): x uint8
    (n, 32, 32, 3), channels last, y uint8 (n, 1); training batches 1 to 5 in order."""
    root = keras_datasets_dir()
    folders = [os.path.join(root, folder) for folder in EXTRACTED]
    archives = [os.path.join(root, archive) for archive in ARCHIVES]
    for folder in folders:
        if all(os.path.isfile(os.path.join(folder, name)) for name in ALL_BATCHES):
            batches = _read_folder(folder)
            break
    else:
        archive = next((path for path in archives if os.path.isfile(path)), None)
        if archive is None:
            raise not_downloaded(
                "cifar10.load_data",
                [(ORIGIN, archives[1])],
                f" (read as it is), or extract it there, giving {folders[1]}{os.sep}",
            )
        batches = _read_archive(archive)
    return _images(batches, BATCHES), _images(batches, [TEST_BATCH])
