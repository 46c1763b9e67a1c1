//! Processed data as parquet (arrow-rs): ratings and catalog, written and read back.

use super::catalog::Product;
use super::ratings::Interactions;
use anyhow::{bail, Context, Result};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, ListArray, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

const BATCH_ROWS: usize = 1 << 20;

fn ratings_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("product_id", DataType::Utf8, false),
        Field::new("rating", DataType::Float32, false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("source_line", DataType::UInt64, false),
    ]))
}

fn props() -> WriterProperties {
    WriterProperties::builder().set_compression(Compression::SNAPPY).build()
}

/// Ratings as parquet bytes (columns: user_id, product_id, rating, timestamp (UTC, millisecond unit; the
/// values are whole seconds), source_line).
pub fn write_ratings(t: &Interactions) -> Result<Vec<u8>> {
    let schema = ratings_schema();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props()))?;
    for start in (0..t.len()).step_by(BATCH_ROWS) {
        let end = (start + BATCH_ROWS).min(t.len());
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values((start..end).map(|k| t.users.name(t.user[k])))),
            Arc::new(StringArray::from_iter_values((start..end).map(|k| t.items.name(t.item[k])))),
            Arc::new(Float32Array::from(t.rating[start..end].to_vec())),
            Arc::new(
                TimestampMillisecondArray::from(t.timestamp[start..end].iter().map(|s| s * 1000).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(UInt64Array::from(t.line[start..end].to_vec())),
        ];
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    w.close()?;
    Ok(buf)
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    b.column_by_name(name)
        .with_context(|| format!("parquet file has no column {name:?}"))?
        .as_any()
        .downcast_ref::<T>()
        .with_context(|| format!("column {name:?} has an unexpected type"))
}

/// Read ratings written by [`write_ratings`].
pub fn read_ratings(bytes: Vec<u8>) -> Result<Interactions> {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))?.with_batch_size(BATCH_ROWS).build()?;
    let mut t = Interactions::default();
    for batch in reader {
        let b = batch?;
        let (u, i) = (col::<StringArray>(&b, "user_id")?, col::<StringArray>(&b, "product_id")?);
        let r = col::<Float32Array>(&b, "rating")?;
        let ts = col::<TimestampMillisecondArray>(&b, "timestamp")?;
        let line = col::<UInt64Array>(&b, "source_line")?;
        if u.null_count() + i.null_count() > 0 {
            bail!("ratings parquet has null ids");
        }
        for k in 0..b.num_rows() {
            t.push(u.value(k), i.value(k), r.value(k), ts.value(k).div_euclid(1000), line.value(k));
        }
    }
    Ok(t)
}

fn catalog_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("product_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("categories", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
        Field::new("description", DataType::Utf8, false),
        Field::new("price", DataType::Float64, true),
        Field::new("brand", DataType::Utf8, false),
    ]))
}

/// Catalog as parquet bytes.
pub fn write_catalog(products: &[Product]) -> Result<Vec<u8>> {
    let schema = catalog_schema();
    let mut cats = ListBuilder::new(StringBuilder::new());
    for p in products {
        for c in &p.categories {
            cats.values().append_value(c);
        }
        cats.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(products.iter().map(|p| p.id.as_str()))),
        Arc::new(StringArray::from_iter_values(products.iter().map(|p| p.title.as_str()))),
        Arc::new(cats.finish()),
        Arc::new(StringArray::from_iter_values(products.iter().map(|p| p.description.as_str()))),
        Arc::new(Float64Array::from(products.iter().map(|p| p.price).collect::<Vec<_>>())),
        Arc::new(StringArray::from_iter_values(products.iter().map(|p| p.brand.as_str()))),
    ];
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props()))?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.close()?;
    Ok(buf)
}

/// Read a catalog written by [`write_catalog`].
pub fn read_catalog(bytes: Vec<u8>) -> Result<Vec<Product>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))?.build()?;
    let mut out = Vec::new();
    for batch in reader {
        let b = batch?;
        let id = col::<StringArray>(&b, "product_id")?;
        let title = col::<StringArray>(&b, "title")?;
        let cats = col::<ListArray>(&b, "categories")?;
        let desc = col::<StringArray>(&b, "description")?;
        let price = col::<Float64Array>(&b, "price")?;
        let brand = col::<StringArray>(&b, "brand")?;
        for k in 0..b.num_rows() {
            let c = cats.value(k);
            let c = c.as_any().downcast_ref::<StringArray>().context("categories are not strings")?;
            out.push(Product {
                id: id.value(k).to_string(),
                title: title.value(k).to_string(),
                categories: (0..c.len()).filter(|&j| c.is_valid(j)).map(|j| c.value(j).to_string()).collect(),
                description: desc.value(k).to_string(),
                price: price.is_valid(k).then(|| price.value(k)),
                brand: brand.value(k).to_string(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_and_catalog_roundtrip() {
        let t = Interactions::from_rows([("u1", "p1", 4.0, 100, 2), ("u2", "p1", 5.0, 50, 3), ("u1", "p2", 1.0, 7, 4)]);
        let back = read_ratings(write_ratings(&t).expect("write")).expect("read");
        assert_eq!(back.len(), 3);
        assert_eq!(back.users.name(back.user[1]), "u2");
        assert_eq!((back.rating[0], back.timestamp[1], back.line[2]), (4.0, 50, 4));
        let products = vec![
            Product {
                id: "p1".into(),
                title: "T".into(),
                categories: vec!["A".into(), "B".into()],
                price: Some(2.5),
                ..Default::default()
            },
            Product { id: "p2".into(), ..Default::default() },
        ];
        assert_eq!(read_catalog(write_catalog(&products).expect("write")).expect("read"), products);
    }

    #[test]
    fn any_parquet_log_reads_like_csv() {
        // Our own ratings file has user_id, product_id, rating, timestamp, source_line columns.
        let t = Interactions::from_rows([("u1", "p1", 4.0, 100, 2), ("u2", "p1", 5.0, 50, 3), ("u1", "p1", 1.0, 7, 4)]);
        let bytes = write_ratings(&t).expect("write");
        use crate::data::format::{is_parquet, to_tsv};
        assert!(is_parquet(&bytes) && !is_parquet(b"PAR1,a,b"));
        let tsv = String::from_utf8(to_tsv(&bytes).expect("tsv")).expect("utf8");
        assert_eq!(tsv.lines().next(), Some("user_id\tproduct_id\trating\ttimestamp\tsource_line"));
        assert_eq!(tsv.lines().nth(2), Some("u2\tp1\t5\t50\t3"));
        let opts = crate::data::ratings::RatingsOptions::default();
        let r = crate::data::ratings::read_ratings(&bytes, &opts).expect("read");
        assert_eq!((r.format, r.input_rows, r.table.len(), r.duplicates), ("parquet", 3, 2, 1));
        assert!(r.ledger_balances());
    }
}
