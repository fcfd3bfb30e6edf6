"""Warnings and errors of the package, to filter or catch by class.

Examples
--------
>>> import warnings
>>> from sklearn_dssl.exceptions import ColumnScaleWarning
>>> warnings.filterwarnings("ignore", category=ColumnScaleWarning)
"""

from sklearn.exceptions import ConvergenceWarning

__all__ = ["ColumnScaleWarning", "ModelMemoryError", "NonFiniteLossError", "OverfittingWarning"]


class ColumnScaleWarning(UserWarning):
    """A modality's columns differ more than a thousandfold in scale.

    The neural estimators warn of it at ``fit``: an encoder sees mostly the
    widest columns and may learn little of the others. Standardise the
    columns first, e.g. with a ``StandardScaler`` before the estimator in a
    ``Pipeline``, which :func:`sklearn_dssl.save` keeps whole.
    """


class OverfittingWarning(ConvergenceWarning):
    """The cross-modal contrastive loss on the held-out rows rose from its lowest.

    With ``validation_fraction``, a fit whose held-out contrast fell below
    its chance level and then ended more than a tenth of that level above
    its lowest warns of it: the encoders fit the training rows at the
    expense of others. Stop training where the held-out loss is lowest,
    with skorch's ``EarlyStopping(monitor="valid_loss", load_best=True)``,
    or train for fewer epochs or at a lower ``lr``. A
    ``ConvergenceWarning``, as the warning of a loss at chance is.
    """


class NonFiniteLossError(FloatingPointError, ValueError):
    """Raised when a training loss becomes NaN or infinite.

    A ValueError too: what diverges is most often the input's scale or a
    setting (``lr``), and the package reports those as ValueErrors.
    """


class ModelMemoryError(MemoryError, RuntimeError):
    """The model of a fit does not fit in the memory of the device it trains on.

    The neural estimators raise it before training for widths whose encoders
    alone would exceed that memory (say a typo in ``hidden_layer_sizes``),
    and in place of torch's error when an allocation fails during a fit.
    The message names the settings the model's size follows. A RuntimeError
    too, as torch's allocation errors are, and a ``torch.cuda.OutOfMemoryError``
    where torch's was one, so that code catching those still does.
    """
