"""Compare update strategies from Python, on data whose inputs drift
=================================================================

Permuted digits: every task shows the same ten digits through a different
fixed shuffle of the pixels, as when a sensor is replaced and its channels
come in a new order. A model fine-tuned on each new task forgets the
earlier ones; replay and an ensemble of old and new models keep them at a
cost in update time or memory, which the table shows next to the scores.
The command line runs the same comparison with
``sklearn-cl compare permuted-digits``.

Writes ``permuted_digits_matrices.png`` when matplotlib is installed.
"""

from sklearn.base import clone

from sklearn_cl import ContinualClassifier, UpdateEnsemble
from sklearn_cl.datasets import permuted_digits
from sklearn_cl.evaluation import compare_strategies, plot_accuracy_matrix
from sklearn_cl.strategies import Replay

tasks = permuted_digits(n_tasks=4)
base = ContinualClassifier(hidden_layer_sizes=(100,), max_epochs=10, update_epochs=5)
candidates = {
    "finetune": base,
    "finetune-small-lr": clone(base).set_params(update_lr=1e-4),
    "replay": clone(base).set_params(callbacks=[Replay(buffer_size=300)]),
    "ensemble": UpdateEnsemble(base, data="new"),
}
table, results = compare_strategies(
    candidates, tasks, n_seeds=2, joint=base, return_results=True
)
columns = [
    "strategy",
    "average_score_mean",
    "backward_transfer_mean",
    "forgetting_mean",
    "update_time_mean",
    "state_bytes_mean",
]
print(table[columns].round(3).to_string(index=False))

try:
    from matplotlib.figure import Figure
except ImportError:
    print("matplotlib is not installed: no plot")
else:
    fig = Figure(figsize=(16, 3.5), layout="constrained")
    for ax, (name, runs) in zip(fig.subplots(1, len(results)), results.items()):
        plot_accuracy_matrix(runs[0].matrix, ax=ax, title=name, vmin=0, vmax=1)
    fig.savefig("permuted_digits_matrices.png", dpi=80)
    print("wrote permuted_digits_matrices.png")
