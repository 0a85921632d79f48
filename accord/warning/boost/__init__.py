"""Impact prediction during the boost: a missile-class prior over the burn still to come.

Before burnout nobody knows where a missile will fall: the impact depends on how long the motor
still burns and how far the pitch programme still turns it. What the track does show is the
flight so far — altitude, speed and flight-path angle at a known time since launch — and a
missile class flies only some trajectories. This package weighs a fixed set of trajectories
drawn from the class (a *hypothesis bank*) by how well each matches the track now, and reports
the impact distribution they imply and, along the ground track, the probability that the
missile's flight reaches each point (the alert rules name an area only where that probability
passes their threshold, :attr:`accord.warning.alerts.rules.AlertRules.boost_alert_probability`).

The class (:class:`MissileClass`; :data:`DEFAULT_CLASS` is the missile the simulator flies,
``accord.warning.sim``): thrust acceleration ``a₀/(1 − f τ/t_b)`` with ``a₀`` uniform in its
range and ``f`` fixed, a vertical rise for ``t_v`` then a linear pitch-over to the burnout
elevation ``γ_b`` at ``t_b``; ranges ``range_km``. Its hypotheses ``(a₀, t_v, t_b, γ_b)`` are
drawn by trajectory kind as the simulator solves its launches (``MissileClass.kinds``,
:mod:`.prior`): a minimum-energy shot at the best pitch of its burn, or a lofted or
depressed one burning a surplus longer on the pitch above or below it that reaches the same
range, in the shares the simulator's launch generators use. A class without kinds draws
``(a₀, t_v, t_b, γ_b)`` uniformly and keeps a burn at most ``surplus_max`` longer than the
minimum-energy burn for its range. Each hypothesis is flown once (RK4 in the launch/aim plane,
which is independent of where the launch is, so the bank is built once per class and process)
and kept when its range fits the class.

For a boosting track at ``t`` with a launch estimate ``(t_L, p_L)`` (the rise fit,
:func:`accord.warning.prediction.launch_from_boost_states`): the flight plane is the plane
through the Earth's centre fitted to the track's boost positions (the states the rise fit reads,
and the position now; :func:`.predict._plane_fit`), or with too few of them the one through
``p_L`` and the track's position turned towards its velocity (:func:`.predict._plane`). Hypothesis ``i`` at ``τ = t − t_L + δ``
(``δ`` over a grid of launch-time errors with prior ``N(0, σ_t²)``) is put in that plane and its
likelihood is ``N(x_track − x_i; 0, P_track + Q)``, ``Q = diag(σ_p² I, σ_v² I)`` the model error
(the launch point's σ and the bank's spacing). The posterior weights give the impact down-range
(each hypothesis' Kepler arc from its burnout), its time, and ``P(reach s)`` = the weight of the
hypotheses whose impact lies beyond down-range ``s``.

The modules, in the order a prediction uses them (each imports only those before it):

* :mod:`.flight` — the flight kernel: RK4 of a motor in the launch/aim plane (:func:`.flight.fly`)
  and the Kepler arc from burnout to impact (:func:`.flight.impact_arc`).
* :mod:`.prior` — the missile classes (:class:`MissileClass`, :data:`SIM_CLASS`,
  :data:`STEP_CLASS`), the hypotheses drawn from a class by trajectory kind, and the bank they
  make once flown (:class:`Bank`, :func:`bank`, :func:`banks`: joined in order of impact range,
  component-major ``(T, 4, N)``).
* :mod:`.likelihood` — how well each hypothesis matches a track: the track reduced to a 4-D
  quadratic form in the flight plane (:func:`.likelihood.plane_quadratic`), the log-likelihood
  kernel over the bank (:func:`.likelihood.log_like`) and the posterior moments and cumulative
  weights (:func:`.likelihood.posterior`).
* :mod:`.predict` — :func:`boost_prediction`: the flight plane fitted to the track's boost
  positions (or from the launch estimate and the track's velocity), the end of flight (mean impact, its time and 95 % ellipse) and the
  probability of reaching each point of the ground track; :func:`warm_up`.

Defensive use only: this estimates where a threat may fall, for warning.
"""

from accord.warning.boost.likelihood import NEGLIGIBLE_LOG_LIKE
from accord.warning.boost.predict import (
    LAUNCH_T_SIGMA_MIN_S,
    LAUNCH_T_SIGMA_PER_3KM_S,
    MAX_LAUNCH_SIGMA_M,
    MODEL_SIGMA_P_M,
    MODEL_SIGMA_V_MS,
    TRACK_POINTS,
    boost_prediction,
    warm_up,
)
from accord.warning.boost.prior import (
    BANK_DT_S,
    BANK_NODE_S,
    DEFAULT_CLASS,
    DEFAULT_CLASSES,
    SIM_CLASS,
    STEP_CLASS,
    Bank,
    MissileClass,
    bank,
    banks,
)

__all__ = [
    "BANK_DT_S", "BANK_NODE_S", "DEFAULT_CLASS", "DEFAULT_CLASSES", "LAUNCH_T_SIGMA_MIN_S",
    "LAUNCH_T_SIGMA_PER_3KM_S", "MAX_LAUNCH_SIGMA_M", "MODEL_SIGMA_P_M", "MODEL_SIGMA_V_MS",
    "NEGLIGIBLE_LOG_LIKE", "SIM_CLASS", "STEP_CLASS", "TRACK_POINTS", "Bank", "MissileClass", "bank",
    "banks", "boost_prediction", "warm_up",
]
