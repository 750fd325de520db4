"""The student's own package named `gpu`: oraclenet's plugin must not shadow or import it."""

BACKEND = "the student's own gpu package"
