"""scikit-learn's estimator checks on every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_cl import ContinualClassifier, ContinualRegressor

# No expected failures: both estimators pass every check.
ESTIMATORS = [ContinualClassifier(), ContinualRegressor()]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
