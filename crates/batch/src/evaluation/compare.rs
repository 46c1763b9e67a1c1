//! ALS alone on the protocol's test split with two trainers' item factors: ShopAI's own (trained
//! here) and factors trained elsewhere (`data::factors`, e.g. Spark MLlib) on the same rows, both
//! through the same bundle build and fold-in.

use super::offline::{Experiment, SourceMatrix};
use super::protocol::{eval_set, Report, Variant};
use crate::assemble::BuildConfig;
use crate::data::factors::ItemFactors;
use anyhow::Result;
use shopai_core::FusionWeights;
use std::sync::Arc;

/// One trainer's protocol metrics on test (history = train + val).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompareRow {
    /// `shopai` (its own ALS, trained here) or `imported` (the factors file).
    pub trainer: String,
    /// `all` or `pos`.
    pub relevance: Variant,
    /// Metrics at 5, 10, 20.
    pub report: Report,
}

/// ALS alone, scored on the protocol's test split, with ShopAI's own factors (trained here on
/// train + val with `cfg`'s hyper-parameters) and with `imported` ones (which must have been
/// trained on the same train + val rows). Both go through the same bundle build and fold-in.
pub fn compare(exp: &Experiment, cfg: &BuildConfig, imported: Arc<ItemFactors>) -> Result<Vec<CompareRow>> {
    let (nu, ni) = (exp.data.user_ids.len(), exp.data.item_ids.len());
    let h = exp.trainval();
    let als_only = FusionWeights { vector: 0.0, collab: 1.0, popularity: 0.0, item: 0.0, next: 0.0, cold: 0.0 };
    let own = BuildConfig { als_factors: None, ease: None, progress: false, ..cfg.clone() };
    let ext = BuildConfig { als_factors: Some(imported), ..own.clone() };
    let mut rows = Vec::new();
    for relevance in [Variant::All, Variant::Pos] {
        let set = eval_set(nu, ni, &h, &exp.test, relevance);
        for (trainer, c) in [("shopai", &own), ("imported", &ext)] {
            let report = SourceMatrix::compute(exp, &h, &set, c)?.report(&set, als_only);
            rows.push(CompareRow { trainer: trainer.into(), relevance, report });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::offline::tests::experiment;
    use shopai_core::als::{train, AlsConfig};

    /// ShopAI's own factors handed back as "imported" ones score exactly as ShopAI's ALS (the
    /// import path aligns and folds in the same way); random factors score worse, so the
    /// comparison can tell trainers apart.
    #[test]
    fn own_factors_imported_score_the_same_and_random_ones_worse() {
        let exp = experiment();
        let cfg = BuildConfig::new(16, AlsConfig::default().factors(8).iterations(5).seed(11), false);
        let h = exp.trainval();
        let model = train(&exp.data.matrix(&h, cfg.confidence), &cfg.als, |_| {}).expect("train");
        let own = ItemFactors {
            dim: 8,
            ids: exp.data.item_ids.clone(),
            values: model.item_factors.clone(),
            source: "test".into(),
        };
        let rows = compare(&exp, &cfg, Arc::new(own.clone())).expect("compare");
        assert_eq!(rows.len(), 4);
        for pair in rows.chunks(2) {
            assert_eq!((pair[0].trainer.as_str(), pair[1].trainer.as_str()), ("shopai", "imported"));
            assert!(pair[0].report.users > 0);
            assert_eq!(pair[0].report, pair[1].report, "{:?}", pair[0].relevance);
        }

        // (A permutation of the rows would not do: fold-in and scoring use the same table, so a
        // consistent relabelling ranks the same items.)
        let mut rng = shopai_core::math::SplitMix64::new(5);
        let mut random = own;
        random.values.iter_mut().for_each(|v| *v = rng.next_f32() - 0.5);
        let rows = compare(&exp, &cfg, Arc::new(random)).expect("compare");
        assert!(
            rows[1].report.ndcg(10) < rows[0].report.ndcg(10) - 0.05,
            "random factors: {} vs {}",
            rows[1].report.ndcg(10),
            rows[0].report.ndcg(10)
        );
    }
}
