"""`kubectl mlaiops`: a kubectl plugin to see and steer mlaiops objects.

``status`` draws a tree per ModelDeployment with everything that acts on it; ``approve``,
``rollback`` and ``retrain`` set the annotations the operator acts on; ``plot`` draws an
AnomalyRule's series with its band and the actions taken; ``incidents`` lists what went wrong.
Pure parts (tree, summaries, annotation values, approval lookup) have no I/O; ``cluster`` and
``cli`` are the thin shell around them.
"""
