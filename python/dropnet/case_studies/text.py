"""Case study: where to put dropout in a recurrent text classifier.

Tutorials on LSTM text classification place dropout in three ways, often without saying how
they differ. Here the three are trained beside a model without dropout on real text that
ships with dropnet: the UCI Sentiment Labelled Sentences, 3,000 review sentences from
Amazon, IMDb and Yelp labelled positive or negative. The sentences are turned into ids with
dropnet's own Tokenizer (the 2,000 most frequent training words, the rest as one
out-of-vocabulary id) and padded to 40 ids with pad_sequences; every model is
Embedding(2000, 32) -> LSTM(32) -> Dense(1, sigmoid), trained with Adam:

* no dropout;
* Dropout(0.5) after the Embedding: each (word, embedding feature) zeroed on its own;
* SpatialDropout1D(0.5) after the Embedding: whole embedding features zeroed for a
  sentence, the same ones at every word;
* LSTM(32, dropout=0.5, recurrent_dropout=0.5): variational dropout inside the LSTM, one
  mask per sentence on its inputs and one on its recurrent state, reused at every step.

One split for every model (80% training, stratified by site and label); test accuracy per
site and pooled, averaged over seeds, beside a bag-of-words logistic regression
(Tokenizer.texts_to_matrix -> Dense(1, sigmoid)) for scale; the figure shows the mean
learning curves.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import dropnet
from dropnet.case_studies.circles import check_positive, repeat_seeds
from dropnet.datasets import load_sentiment_sentences
from dropnet.layers import LSTM, Dense, Dropout, Embedding, Input, Layer, SpatialDropout1D
from dropnet.models import Sequential
from dropnet.preprocessing.sequence import pad_sequences
from dropnet.preprocessing.text import Tokenizer

NAME = "text"
SUMMARY = (
    "LSTM sentiment of 3,000 bundled review sentences: Dropout vs SpatialDropout1D after the "
    "Embedding vs recurrent dropout vs none, per-site accuracy and learning curves"
)
SOURCES = ("amazon", "imdb", "yelp")
NUM_WORDS = 2000  # ids 1..1999: the out-of-vocabulary id and the 1,998 most frequent words
MAXLEN = 40  # ids per sentence; 21 of the 3,000 sentences are longer and lose their start
EMBED_DIM = 32
UNITS = 32
RATE = 0.5
BATCH = 32
TEST_FRACTION = 0.2
SPLIT_SEED = 0
OOV = "<unk>"
VARIANTS = (
    "no dropout",
    f"Dropout({RATE}) after Embedding",
    f"SpatialDropout1D({RATE}) after Embedding",
    f"LSTM(dropout={RATE}, recurrent_dropout={RATE})",
)
BAG_OF_WORDS = "bag of words -> Dense(1) (reference)"
EXPLANATION = (
    "How they differ: Dropout after the Embedding zeroes single (word, feature) entries, so "
    "every word keeps most of its vector; SpatialDropout1D zeroes whole embedding features for "
    "a sentence, the same ones at every word, so the LSTM cannot lean on any one feature; "
    "dropout=/recurrent_dropout= mask the LSTM's inputs and its state with one mask per "
    "sentence reused at every step. None of them drops whole words: "
    "Dropout(rate, noise_shape=(None, MAXLEN, 1)) would."
)


def build_model(variant: str) -> Sequential:
    layers: list[Layer] = [Embedding(NUM_WORDS, EMBED_DIM)]
    if variant == VARIANTS[1]:
        layers.append(Dropout(RATE))
    elif variant == VARIANTS[2]:
        layers.append(SpatialDropout1D(RATE))
    if variant == VARIANTS[3]:
        layers.append(LSTM(UNITS, dropout=RATE, recurrent_dropout=RATE))
    else:
        layers.append(LSTM(UNITS))
    model = Sequential([Input((MAXLEN,)), *layers, Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def build_bag_of_words() -> Sequential:
    model = Sequential([Input((NUM_WORDS,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def prepare(data: str | None = None) -> dict[str, Any]:
    """The split, tokenized on the training sentences only: ids padded to MAXLEN ("x"),
    bag-of-words rows ("bow"), labels, sites, and the vocabulary size before the cut."""
    from sklearn.model_selection import train_test_split

    texts, labels, sources = load_sentiment_sentences(data)
    strata = np.char.add(sources.astype(str), labels.astype(str))
    train, test = train_test_split(
        np.arange(len(texts)), test_size=TEST_FRACTION, stratify=strata, random_state=SPLIT_SEED
    )
    tokenizer = Tokenizer(num_words=NUM_WORDS, oov_token=OOV)
    tokenizer.fit_on_texts([texts[i] for i in train])
    x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=MAXLEN)
    bow = tokenizer.texts_to_matrix(texts, mode="binary")
    y = labels.astype(np.float32)
    return {
        "train": {"x": x[train], "bow": bow[train].astype(np.float32), "y": y[train]},
        "test": {
            "x": x[test],
            "bow": bow[test].astype(np.float32),
            "y": y[test],
            "source": sources[test],
        },
        "vocabulary": len(tokenizer.word_index) - 1,  # words seen in training (not the OOV)
    }


def accuracies(model: Sequential, x: np.ndarray, y: np.ndarray, sources: np.ndarray) -> dict:
    """Test accuracy per site and pooled."""
    correct = (model.predict(x, verbose=0)[:, 0] > 0.5) == (y > 0.5)
    out = {s: float(correct[sources == s].mean()) for s in SOURCES}
    out["pooled"] = float(correct.mean())
    return out


def run(
    data: str | None = None,
    epochs: int = 20,
    seeds: int = 10,
    seed: int = 1,
    plot: str | None = "text.png",
    verbose: bool = True,
) -> dict:
    """Returns {model: {"test": {site or "pooled": accuracies over seeds}, "train": final
    training accuracies, "history": mean curves (None for the reference), "seconds"}}."""
    check_positive(epochs, "--epochs")
    check_positive(seeds, "--seeds")
    d = prepare(data)
    tr, te = d["train"], d["test"]
    results: dict[str, dict[str, Any]] = {}
    for name in (*VARIANTS, BAG_OF_WORDS):
        key = "bow" if name == BAG_OF_WORDS else "x"
        per_seed, train_acc, curves = [], [], []
        start = time.perf_counter()
        for s in repeat_seeds(seed, seeds):
            dropnet.set_random_seed(s)
            model = build_bag_of_words() if name == BAG_OF_WORDS else build_model(name)
            hist = model.fit(
                tr[key],
                tr["y"],
                validation_data=(te[key], te["y"]),
                epochs=epochs,
                batch_size=BATCH,
                verbose=0,
            )
            per_seed.append(accuracies(model, te[key], te["y"], te["source"]))
            train_acc.append(model.evaluate(tr[key], tr["y"], verbose=0)[1])
            curves.append(hist.history)
        keys = ("accuracy", "val_accuracy", "loss", "val_loss")
        results[name] = {
            "test": {k: np.array([a[k] for a in per_seed]) for k in (*SOURCES, "pooled")},
            "train": np.array(train_acc),
            "history": {k: list(np.mean([c[k] for c in curves], axis=0)) for k in keys},
            "seconds": time.perf_counter() - start,
        }
    if verbose:
        report(results, d, epochs, seeds, data)
    if plot:
        from dropnet.plotting import plot_learning_curves

        path = plot_learning_curves(
            {k: results[k]["history"] for k in VARIANTS},
            plot,
            metric="accuracy",
            title=f"Sentiment of review sentences: Embedding -> LSTM({UNITS}), "
            f"{len(tr['y'])} training sentences (mean of {seeds} seeds)",
            columns=2,
        )
        if verbose:
            print(f"figure written to {path}")
    return results


def report(results: dict, d: dict, epochs: int, seeds: int, data: str | None) -> None:
    te = d["test"]
    counts = ", ".join(f"{int(np.sum(te['source'] == s))} {s}" for s in SOURCES)
    where = "UCI Sentiment Labelled Sentences (bundled)" if data is None else data
    print(
        f"{where}: {len(d['train']['y'])} training and {len(te['y'])} test sentences "
        f"({counts}); {d['vocabulary']} training words, the {NUM_WORDS - 2} most frequent kept; "
        f"padded to {MAXLEN} ids; {epochs} epochs, {seeds} seeds"
    )
    width = max(len(n) for n in results)
    cols = (*SOURCES, "pooled")
    print(f"{'':<{width}}  {'test accuracy, mean ± std over seeds':<60}{'peak':<14}train  time")
    print(f"{'model':<{width}}  " + "".join(f"{c:<15}" for c in cols) + "(epoch)")
    for name, r in results.items():
        cells = "".join(f"{r['test'][c].mean():.3f} ± {r['test'][c].std():.3f}  " for c in cols)
        val = np.asarray(r["history"]["val_accuracy"])
        peak = f"{val.max():.3f} ({int(val.argmax()) + 1})"
        print(f"{name:<{width}}  {cells}{peak:<14}{r['train'].mean():.3f}  {r['seconds']:.1f} s")
    print(
        "peak: the highest mean test accuracy over the epochs, and its epoch; train: accuracy "
        "on the training sentences after the last epoch (dropout off)"
    )
    print(EXPLANATION)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="a folder holding amazon_cells_labelled.txt, imdb_labelled.txt and "
        "yelp_labelled.txt (default: the bundled copy)",
    )
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--seeds", type=int, default=10, help="runs per model (default 10)")
    parser.add_argument(
        "--seed", type=int, default=1, help="first dropnet.set_random_seed value (default 1)"
    )
    parser.add_argument(
        "--plot", default="text.png", help="figure path (default text.png; '' for none)"
    )


def main(args) -> None:
    run(
        data=args.data, epochs=args.epochs, seeds=args.seeds, seed=args.seed, plot=args.plot or None
    )
