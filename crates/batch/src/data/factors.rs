//! Item factors trained elsewhere — Spark MLlib ALS on EMR or Databricks
//! (`scripts/spark/train_als.py`) once the interaction log no longer fits one machine — read from
//! parquet and aligned to a dataset's item order. `assemble::build_bundle` uses them instead of
//! training (`shopai build --als-factors <parquet>`); `evaluation::compare` scores them on the
//! protocol beside ShopAI's own ALS (`shopai evaluate --als-factors <parquet>`).
//!
//! The file is what Spark's `ALSModel.itemFactors` writes once its integer ids are mapped back to
//! product ids: columns `id` (string, or an integer id) and `features` (array of float or double),
//! one row per item; a Spark output folder of `part-*.parquet` files is read whole. Rows are
//! aligned to the dataset's item order. Items without any training interaction may be absent
//! (Spark never sees them; ShopAI's own ALS leaves them at zero, and so does this); any other
//! missing id, an id the dataset does not know, a repeated id, a row of another dimension or a
//! non-finite value is an error that names it. Everything after alignment is the usual build:
//! int8 factors and `YᵀY + λI` from the dequantized factors, so fold-in works unchanged.

use super::dataset::Row;
use anyhow::{bail, ensure, Context, Result};
use arrow_array::{
    Array, Float32Array, Float64Array, Int32Array, Int64Array, LargeListArray, LargeStringArray, ListArray,
    RecordBatch, StringArray,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Item factors read from parquet, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFactors {
    /// Latent dimensions (the same for every row).
    pub dim: usize,
    /// Product id of each row.
    pub ids: Vec<String>,
    /// Row-major factors, `ids.len() × dim`.
    pub values: Vec<f32>,
    /// Where they came from (for messages).
    pub source: String,
}

/// The parquet files of `path`: the file itself, or every `*.parquet` file in the folder (a Spark
/// output folder), sorted by name.
fn parquet_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    ensure!(!files.is_empty(), "{} holds no .parquet files", path.display());
    Ok(files)
}

fn ids_of(b: &RecordBatch) -> Result<Vec<Option<String>>> {
    let c = b.column_by_name("id").context("the factors file has no column \"id\"")?;
    let any = c.as_any();
    let v: Vec<Option<String>> = if let Some(a) = any.downcast_ref::<StringArray>() {
        a.iter().map(|x| x.map(str::to_string)).collect()
    } else if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        a.iter().map(|x| x.map(str::to_string)).collect()
    } else if let Some(a) = any.downcast_ref::<Int32Array>() {
        a.iter().map(|x| x.map(|x| x.to_string())).collect()
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        a.iter().map(|x| x.map(|x| x.to_string())).collect()
    } else {
        bail!("column \"id\" is {}; expected a string or integer", c.data_type())
    };
    Ok(v)
}

/// One row's factors as f32 (the list's values are float or double).
fn row_values(values: &dyn Array) -> Result<Vec<f32>> {
    if let Some(a) = values.as_any().downcast_ref::<Float32Array>() {
        ensure!(a.null_count() == 0, "a null inside \"features\"");
        Ok(a.values().to_vec())
    } else if let Some(a) = values.as_any().downcast_ref::<Float64Array>() {
        ensure!(a.null_count() == 0, "a null inside \"features\"");
        Ok(a.values().iter().map(|&x| x as f32).collect())
    } else {
        bail!("\"features\" holds {}; expected float or double", values.data_type())
    }
}

fn features_of(b: &RecordBatch) -> Result<Vec<Option<Vec<f32>>>> {
    let c = b.column_by_name("features").context("the factors file has no column \"features\"")?;
    let mut out = Vec::with_capacity(c.len());
    if let Some(l) = c.as_any().downcast_ref::<ListArray>() {
        for k in 0..l.len() {
            out.push(if l.is_null(k) { None } else { Some(row_values(l.value(k).as_ref())?) });
        }
    } else if let Some(l) = c.as_any().downcast_ref::<LargeListArray>() {
        for k in 0..l.len() {
            out.push(if l.is_null(k) { None } else { Some(row_values(l.value(k).as_ref())?) });
        }
    } else {
        bail!("column \"features\" is {}; expected a list of float", c.data_type())
    }
    Ok(out)
}

/// Read item factors from a parquet file or a folder of them.
pub fn read(path: &Path) -> Result<ItemFactors> {
    let source = path.display().to_string();
    let mut f = ItemFactors { dim: 0, ids: Vec::new(), values: Vec::new(), source: source.clone() };
    for file in parquet_files(path)? {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .and_then(|b| b.build())
            .with_context(|| format!("{} is not a readable parquet file", file.display()))?;
        for batch in reader {
            let b = batch.with_context(|| format!("reading {}", file.display()))?;
            for (id, features) in ids_of(&b)?.into_iter().zip(features_of(&b)?) {
                let id = id.with_context(|| format!("{}: a row has a null id", file.display()))?;
                let v = features.with_context(|| format!("{}: item {id:?} has null features", file.display()))?;
                if f.ids.is_empty() {
                    ensure!(!v.is_empty(), "{}: item {id:?} has an empty factor vector", file.display());
                    f.dim = v.len();
                }
                ensure!(
                    v.len() == f.dim,
                    "{}: item {id:?} has {} factors, the first row has {}",
                    file.display(),
                    v.len(),
                    f.dim
                );
                ensure!(v.iter().all(|x| x.is_finite()), "{}: item {id:?} has a non-finite factor", file.display());
                f.ids.push(id);
                f.values.extend_from_slice(&v);
            }
        }
    }
    ensure!(!f.ids.is_empty(), "{source} holds no item factors");
    Ok(f)
}

fn listed(ids: &[&str]) -> String {
    let shown: Vec<String> = ids.iter().take(5).map(|s| format!("{s:?}")).collect();
    let more = if ids.len() > 5 { format!(" and {} more", ids.len() - 5) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

impl ItemFactors {
    /// Factors in the order of `item_ids` (row-major, `item_ids.len() × dim`). `trained[i]` says
    /// whether item `i` has training interactions: only those must be present; the others get zeros.
    pub fn align(&self, item_ids: &[String], trained: &[bool]) -> Result<Vec<f32>> {
        let index: HashMap<&str, usize> = item_ids.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        let mut out = vec![0f32; item_ids.len() * self.dim];
        let mut seen = vec![false; item_ids.len()];
        let mut unknown = Vec::new();
        for (row, id) in self.ids.iter().enumerate() {
            match index.get(id.as_str()) {
                None => unknown.push(id.as_str()),
                Some(&i) => {
                    ensure!(!seen[i], "{}: item {id:?} appears more than once", self.source);
                    seen[i] = true;
                    out[i * self.dim..(i + 1) * self.dim]
                        .copy_from_slice(&self.values[row * self.dim..(row + 1) * self.dim]);
                }
            }
        }
        ensure!(
            unknown.is_empty(),
            "{}: {} item ids are not in the dataset: {} (were the factors trained on other data?)",
            self.source,
            unknown.len(),
            listed(&unknown)
        );
        let missing: Vec<&str> =
            (0..item_ids.len()).filter(|&i| trained[i] && !seen[i]).map(|i| item_ids[i].as_str()).collect();
        ensure!(
            missing.is_empty(),
            "{}: {} items with training interactions have no factors: {} (were the factors trained on fewer rows?)",
            self.source,
            missing.len(),
            listed(&missing)
        );
        Ok(out)
    }
}

/// Items that occur in `rows`.
pub fn trained_items(n_items: usize, rows: &[Row]) -> Vec<bool> {
    let mut t = vec![false; n_items];
    rows.iter().for_each(|r| t[r.1 as usize] = true);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Float64Builder, ListBuilder};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use std::sync::Arc;

    /// A parquet file shaped like Spark's output (string id, array<double> features).
    fn write(path: &Path, rows: &[(&str, Vec<f64>)]) {
        let mut feats = ListBuilder::new(Float64Builder::new());
        for (_, v) in rows {
            feats.values().append_slice(v);
            feats.append(true);
        }
        let feats = feats.finish();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("features", feats.data_type().clone(), true),
        ]));
        let ids = StringArray::from_iter_values(rows.iter().map(|r| r.0));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(feats)]).expect("batch");
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema, None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        std::fs::write(path, buf).expect("file");
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shopai-als-import-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn aligns_a_spark_folder_to_the_dataset_order() {
        let d = tmp("folder");
        write(&d.join("part-00001.parquet"), &[("b", vec![3.0, 4.0])]);
        write(&d.join("part-00000.parquet"), &[("a", vec![1.0, 2.0])]);
        std::fs::write(d.join("_SUCCESS"), b"").expect("marker");
        let f = read(&d).expect("read");
        assert_eq!((f.dim, f.ids.clone()), (2, ids(&["a", "b"])));
        // "c" has no training interaction: zeros, as ShopAI's own ALS leaves it.
        let got = f.align(&ids(&["b", "c", "a"]), &[true, false, true]).expect("align");
        assert_eq!(got, vec![3.0, 4.0, 0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn rejects_missing_extra_repeated_and_ragged_rows() {
        let d = tmp("bad");
        let f = d.join("f.parquet");
        write(&f, &[("a", vec![1.0, 2.0]), ("zz", vec![0.0, 1.0])]);
        let err = read(&f).expect("read").align(&ids(&["a", "b"]), &[true, false]).unwrap_err().to_string();
        assert!(err.contains("1 item ids are not in the dataset: \"zz\""), "{err}");

        write(&f, &[("a", vec![1.0, 2.0])]);
        let err = read(&f).expect("read").align(&ids(&["a", "b"]), &[true, true]).unwrap_err().to_string();
        assert!(err.contains("1 items with training interactions have no factors: \"b\""), "{err}");

        write(&f, &[("a", vec![1.0, 2.0]), ("a", vec![1.0, 2.0])]);
        let err = read(&f).expect("read").align(&ids(&["a"]), &[true]).unwrap_err().to_string();
        assert!(err.contains("\"a\" appears more than once"), "{err}");

        write(&f, &[("a", vec![1.0, 2.0]), ("b", vec![1.0, 2.0, 3.0])]);
        let err = read(&f).unwrap_err().to_string();
        assert!(err.contains("item \"b\" has 3 factors, the first row has 2"), "{err}");

        write(&f, &[("a", vec![1.0, f64::NAN])]);
        assert!(read(&f).unwrap_err().to_string().contains("non-finite"));

        std::fs::write(&f, b"not parquet").expect("write");
        assert!(read(&f).unwrap_err().to_string().contains("not a readable parquet file"));
    }
}
