//! M/M/c (Erlang C) estimates of the replicas a latency objective needs: where the search
//! starts, before simulation confirms it.

/// Erlang C: the probability that an arrival waits in an M/M/c queue with offered load `a`
/// (= lambda / mu, in servers); 1 when `a >= c`.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a >= f64::from(c) {
        return 1.0;
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    b / (1.0 - rho + rho * b)
}

/// Fewest M/M/c servers (service rate `mu`, arrivals `lambda` per second) whose response time
/// meets `bound_s`: its mean when `quantile` is None, else that quantile. Waiting W has
/// P(W > t) = C e^{-(c mu - lambda) t} and service is exponential; the response quantile is found
/// by bisection on the distribution of their sum. None if no count up to `max` does.
pub fn mmc_servers_for(lambda: f64, mu: f64, bound_s: f64, quantile: Option<f64>, max: u32) -> Option<u32> {
    if !(lambda >= 0.0 && mu > 0.0 && bound_s > 0.0) {
        return None;
    }
    let start = ((lambda / mu).floor() as u32 + 1).max(1);
    (start..=max.max(start)).find(|&c| {
        let pw = erlang_c(c, lambda / mu);
        let theta = f64::from(c) * mu - lambda;
        match quantile {
            None => pw / theta + 1.0 / mu <= bound_s,
            Some(q) => mmc_response_tail(pw, theta, mu, bound_s) <= 1.0 - q,
        }
    })
}

/// P(T > t) for T = W + S, W with an atom 1 - pw at 0 and rate-`theta` exponential tail of mass
/// pw, S exponential with rate `mu` (the M/M/c response time).
pub fn mmc_response_tail(pw: f64, theta: f64, mu: f64, t: f64) -> f64 {
    let s_tail = (-mu * t).exp();
    let w_part = if (theta - mu).abs() < 1e-9 * mu {
        pw * (1.0 + mu * t) * (-mu * t).exp()
    } else {
        pw * (mu * (-theta * t).exp() - theta * (-mu * t).exp()) / (mu - theta)
    };
    (1.0 - pw) * s_tail + w_part
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_closed_forms() {
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        assert_eq!(erlang_c(3, 3.5), 1.0);
    }

    /// The response tail integrates to the M/M/c mean: E[T] = int P(T > t) dt.

    #[test]
    fn response_tail_integrates_to_the_mean() {
        let (c, lambda, mu) = (3u32, 2.4, 1.0);
        let pw = erlang_c(c, lambda / mu);
        let theta = f64::from(c) * mu - lambda;
        let dt = 1e-3;
        let integral: f64 = (0..40_000)
            .map(|i| mmc_response_tail(pw, theta, mu, (i as f64 + 0.5) * dt) * dt)
            .sum();
        let mean = pw / theta + 1.0 / mu;
        assert!((integral - mean).abs() < 1e-3 * mean, "{integral} vs {mean}");
    }
}
