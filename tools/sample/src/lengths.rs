//! Length distributions for synthetic prompts and outputs, as inference-perf and guidellm
//! describe them: a fixed length, uniform between bounds, or normal with optional bounds.

use anyhow::{bail, Result};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LenDist {
    Fixed(u32),
    /// Inclusive bounds.
    Uniform {
        min: u32,
        max: u32,
    },
    /// Rounded, then clamped to `[min, max]` (and never below 1).
    Normal {
        mean: f64,
        std_dev: f64,
        min: u32,
        max: u32,
    },
}

impl LenDist {
    pub fn sample<R: Rng>(&self, rng: &mut R) -> u32 {
        match *self {
            LenDist::Fixed(n) => n,
            LenDist::Uniform { min, max } => rng.random_range(min..=max),
            LenDist::Normal { mean, std_dev, min, max } => {
                let x = Normal::new(mean, std_dev).expect("validated at parse").sample(rng).round();
                (x.max(min as f64).min(max as f64) as u32).max(1)
            }
        }
    }

    /// The fixed value, for places that take only one (vLLM sonnet lengths).
    pub fn fixed(&self) -> Option<u32> {
        match *self {
            LenDist::Fixed(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for LenDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LenDist::Fixed(n) => write!(f, "{n}"),
            LenDist::Uniform { min, max } => write!(f, "uniform:{min}:{max}"),
            LenDist::Normal { mean, std_dev, min, max } => write!(f, "normal:{mean}:{std_dev}:{min}:{max}"),
        }
    }
}

impl FromStr for LenDist {
    type Err = anyhow::Error;

    /// `512`, `fixed:512`, `uniform:MIN:MAX`, `normal:MEAN:STD[:MIN:MAX]`.
    fn from_str(s: &str) -> Result<LenDist> {
        let parts: Vec<&str> = s.split(':').collect();
        let int = |p: &str| -> Result<u32> {
            p.trim().parse::<u32>().map_err(|_| anyhow::anyhow!("{s:?}: {p:?} is not a whole number of tokens"))
        };
        let num = |p: &str| -> Result<f64> {
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| anyhow::anyhow!("{s:?}: {p:?} is not a number"))
        };
        let dist = match parts.as_slice() {
            [n] => LenDist::Fixed(int(n)?),
            ["fixed", n] => LenDist::Fixed(int(n)?),
            ["uniform", a, b] => {
                let (min, max) = (int(a)?, int(b)?);
                if min > max {
                    bail!("{s:?}: min {min} is above max {max}");
                }
                LenDist::Uniform { min, max }
            }
            ["normal", m, sd] | ["normal", m, sd, _, _] => {
                let (mean, std_dev) = (num(m)?, num(sd)?);
                if std_dev < 0.0 || mean <= 0.0 {
                    bail!("{s:?}: the mean must be positive and the standard deviation not negative");
                }
                let (min, max) = if parts.len() == 5 { (int(parts[3])?, int(parts[4])?) } else { (1, u32::MAX) };
                if min > max {
                    bail!("{s:?}: min {min} is above max {max}");
                }
                LenDist::Normal { mean, std_dev, min, max }
            }
            _ => bail!("{s:?}: expected N, fixed:N, uniform:MIN:MAX or normal:MEAN:STD[:MIN:MAX]"),
        };
        if matches!(dist, LenDist::Fixed(0)) {
            bail!("{s:?}: a length must be at least 1 token");
        }
        Ok(dist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_each_form() {
        assert_eq!("512".parse::<LenDist>().unwrap(), LenDist::Fixed(512));
        assert_eq!("fixed:7".parse::<LenDist>().unwrap(), LenDist::Fixed(7));
        assert_eq!("uniform:10:20".parse::<LenDist>().unwrap(), LenDist::Uniform { min: 10, max: 20 });
        assert_eq!(
            "normal:100:10:50:150".parse::<LenDist>().unwrap(),
            LenDist::Normal { mean: 100.0, std_dev: 10.0, min: 50, max: 150 }
        );
        for bad in ["", "x", "uniform:5", "uniform:9:3", "normal:-1:2", "0", "gamma:1:2"] {
            assert!(bad.parse::<LenDist>().is_err(), "{bad}");
        }
    }

    #[test]
    fn samples_stay_in_bounds_and_follow_the_distribution() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let u = LenDist::Uniform { min: 10, max: 20 };
        let xs: Vec<u32> = (0..2000).map(|_| u.sample(&mut rng)).collect();
        assert!(xs.iter().all(|x| (10..=20).contains(x)));
        assert!(xs.contains(&10) && xs.contains(&20));
        let n = LenDist::Normal { mean: 100.0, std_dev: 10.0, min: 90, max: 130 };
        let ys: Vec<u32> = (0..4000).map(|_| n.sample(&mut rng)).collect();
        assert!(ys.iter().all(|y| (90..=130).contains(y)));
        let mean = ys.iter().map(|&y| y as f64).sum::<f64>() / ys.len() as f64;
        // Clamping at 90 lifts the mean of N(100, 10) a little: E ≈ 101.1.
        assert!((100.0..102.5).contains(&mean), "{mean}");
    }
}
