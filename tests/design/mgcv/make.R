# The reference matrices of tests/design/test_smooth_basis.py, printed by mgcv 1.8-41 (Debian's
# r-cran-mgcv) as brms 2.x builds s(x): smoothCon(absorb.cons = TRUE, diagonal.penalty =
# TRUE) and smooth2random(type = 2). Run from this folder: Rscript make.R
library(mgcv)
ref <- function(d, k, tag, new = NULL) {
  sm <- smoothCon(s(x, k = k), data = d, absorb.cons = TRUE, diagonal.penalty = TRUE)[[1]]
  r <- smooth2random(sm, names(d), type = 2)
  write.csv(d["x"], paste0("x", tag, ".csv"), row.names = FALSE)
  write.csv(r$rand[[1]], paste0("Xr", tag, ".csv"), row.names = FALSE)
  write.csv(r$Xf, paste0("Xf", tag, ".csv"), row.names = FALSE)
  if (!is.null(new)) {  # the basis at the fitted rows and then at new x (PredictMat)
    write.csv(PredictMat(sm, data.frame(x = c(d$x, new))), paste0("P", tag, ".csv"),
              row.names = FALSE)
  }
}
set.seed(1); x <- runif(50); ref(data.frame(x = x, y = sin(6 * x) + rnorm(50, 0, .3)), 10, "50")
set.seed(2); x <- round(rnorm(300, 5, 2), 1)
ref(data.frame(x = x, y = sin(x) + rnorm(300, 0, .3)), 7, "300", c(-1, 2.05, 5, 11.3))
# exactly k distinct values: mgcv's "pure knot" basis (no eigen step)
set.seed(3); x <- rep(0:9, 4) + 0.0; ref(data.frame(x = x, y = sqrt(x) + rnorm(40, 0, .3)), 10, "pure")
