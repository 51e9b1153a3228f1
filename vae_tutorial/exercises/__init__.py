"""Checks for the chapters' exercises.

Each check calls the student's function on fresh inputs, compares it with a reference, and
either prints a short confirmation or raises :class:`ExerciseError` with a hint that says what is
wrong (a shape, a scale, a sign) rather than a bare ``AssertionError``.

A chapter (and its student copy) passes the student's function to its check::

    from vae_tutorial import exercises
    exercises.check_gaussian_kl(kl_to_standard_normal)

The checks live in one module per part of the book, all built on ``_checking`` (the error, the
fresh inputs and edge cases, the comparisons): ``part1_foundations`` (chapters 1-4),
``part2_the_vae`` (5-7), ``part3_latent_space`` (8-9) and ``part4_variants`` (10-13).

Every check takes ``seed=s`` to run its tests on other random inputs (a graded copy's hidden
tests), and refuses a function that is, or calls, the package's own answer to the exercise
(:data:`PACKAGE_ANSWERS`); the student copies hide the cells that show those answers' source.
"""

from __future__ import annotations

from ._checking import ExerciseError, requires_function
from .part1_foundations import (
    check_bernoulli_log_likelihood,
    check_class_means,
    check_expected_ink,
    check_gaussian_kl,
    check_linear_gaussian_log_marginal,
    check_log_mean_exp,
    check_reparameterize,
    check_score_function,
)
from .part2_the_vae import check_count_parameters, check_iwae_from_log_weights, check_train_step
from .part3_latent_space import (
    check_psnr,
    check_quantile_cell_shares,
    check_salt_and_pepper,
    check_slerp,
    check_unsure_shares,
)
from .part4_variants import (
    check_class_posterior,
    check_conv_side,
    check_free_bits_kl,
    check_kl_weight,
    check_negative_elbo,
    check_paired_difference,
)

__all__ = [
    "ExerciseError",
    "check_class_means",
    "check_expected_ink",
    "check_log_mean_exp",
    "check_linear_gaussian_log_marginal",
    "check_gaussian_kl",
    "check_bernoulli_log_likelihood",
    "check_reparameterize",
    "check_score_function",
    "check_count_parameters",
    "check_train_step",
    "check_iwae_from_log_weights",
    "check_slerp",
    "check_quantile_cell_shares",
    "check_unsure_shares",
    "check_psnr",
    "check_salt_and_pepper",
    "check_negative_elbo",
    "check_kl_weight",
    "check_free_bits_kl",
    "check_class_posterior",
    "check_conv_side",
    "check_paired_difference",
]

# The package's own answer to each exercise: a check refuses a function that is one of these or
# calls one (directly, through a module, a class or a helper of the student's).
PACKAGE_ANSWERS: dict[str, tuple[str, ...]] = {
    "check_linear_gaussian_log_marginal": ("vae_tutorial.linear_gaussian.LinearGaussian",),
    "check_log_mean_exp": ("vae_tutorial.losses.log_mean_exp",),
    "check_gaussian_kl": ("vae_tutorial.losses.gaussian_kl", "vae_tutorial.losses.negative_elbo"),
    "check_bernoulli_log_likelihood": (
        "vae_tutorial.losses.bernoulli_log_likelihood",
        "vae_tutorial.evaluate.bernoulli_log_likelihood_fast",
        "vae_tutorial.losses.negative_elbo",
    ),
    "check_reparameterize": ("vae_tutorial.model.reparameterize",),
    "check_score_function": ("vae_tutorial.gradients.score_function_gradients",),
    "check_count_parameters": ("vae_tutorial.model.VAE", "vae_tutorial.variants.build_model"),
    "check_iwae_from_log_weights": (
        "vae_tutorial.losses.log_mean_exp",
        "vae_tutorial.evaluate.iwae_bound",
    ),
    "check_slerp": ("vae_tutorial.latent.slerp", "vae_tutorial.latent.interpolate"),
    "check_quantile_cell_shares": ("vae_tutorial.latent.quantile_cell_shares",),
    "check_psnr": ("vae_tutorial.denoising.psnr",),
    "check_salt_and_pepper": ("vae_tutorial.corruptions.salt_and_pepper",),
    "check_negative_elbo": ("vae_tutorial.losses.negative_elbo",),
    "check_kl_weight": ("vae_tutorial.objective.Objective",),
    "check_free_bits_kl": ("vae_tutorial.objective.free_bits_kl",),
    "check_conv_side": ("vae_tutorial.conv.conv_side",),
    "check_paired_difference": ("vae_tutorial.evaluate.paired_difference",),
}

# Every check takes the student's function first: passing None (or its result) gets a message.
for _name in __all__:
    if _name.startswith("check_"):
        globals()[_name] = requires_function(globals()[_name], PACKAGE_ANSWERS.get(_name, ()))
del _name
