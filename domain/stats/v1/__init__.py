"""Method version 1.0 of the A/B statistics, frozen as it was recorded (do not edit).

Decisions recorded with ``method_version`` 1.0 carry the analysis that version
computed; an audit recomputes them with exactly this code so that they still
reproduce bit for bit after the method changed. ``trialbook.domain.stats.analyze``
dispatches here when ``AnalysisInput.method_version == "1.0"``.

The modules are copies of ``domain/stats/{engine,analysis,frequentist,sequential,
bayes,simulate}.py`` at commit 5eacad5, with only their imports pointed at this
package. The shared pieces (``model``, ``moments`` and ``domain.metrics``) are
imported from their usual places: change them only in ways that keep version 1.0's
numbers (new optional fields with defaults, new metrics).
"""
