#!/usr/bin/env python3
"""Train implicit-feedback ALS with Spark MLlib on ShopAI's processed interactions and write the
item factors as parquet for `shopai build --als-factors` (and `shopai evaluate --als-factors`).

This is the path past one machine: the same script runs on a laptop (`--master local[2]`), on EMR
(`spark-submit scripts/spark/train_als.py --input s3://…` — EMR's S3 connector) or on Databricks.
Input: one or more parquet files or folders as `shopai ingest` / `shopai split` write them
(columns user_id, product_id, rating; other columns are ignored), local or `s3a://`. Output: a
parquet folder with columns `id` (the product id) and `features` (array<float>), one row per item
seen in the input.

Hyper-parameters are given in ShopAI's (= implicit's) terms and mapped to MLlib's, which differ in
two ways (see MLlib's ALS.computeFactors):
  * confidence: implicit/ShopAI weigh an observed pair with c = alpha x value (unobserved: 1);
    MLlib uses c = 1 + alpha' x value. For binary values the two agree with alpha' = alpha - 1.
  * regularization: ShopAI adds a fixed lambda; MLlib adds regParam x n_row (ALS-WR scaling by the
    row's number of interactions). With --reg-scaling shopai (the default) regParam is
    lambda / mean(n_row), the mean over every user and item row, so the average row is regularized
    as ShopAI would; with --reg-scaling mllib the value is passed unchanged.
"""
import argparse
import json
import shutil
import sys
import tempfile
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", nargs="+", required=True, help="parquet files/folders (local path or s3a://)")
    p.add_argument("--output", required=True, help="where to write the item factors (parquet folder)")
    p.add_argument("--factors", type=int, default=32)
    p.add_argument("--regularization", type=float, default=0.05, help="ShopAI's lambda")
    p.add_argument("--alpha", type=float, default=1.0, help="ShopAI's alpha (confidence = alpha x value)")
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--confidence", choices=["binary", "rating"], default="binary",
                   help="binary: every interaction counts 1 (the evaluation protocol's choice)")
    p.add_argument("--reg-scaling", choices=["shopai", "mllib"], default="shopai")
    p.add_argument("--master", default=None, help="e.g. local[2]; default: whatever spark-submit set")
    p.add_argument("--partitions", type=int, default=None, help="shuffle partitions (default: Spark's)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="where ALS checkpoints its lineage every 10 iterations (default for local runs: a temp dir); "
                        "without one, long runs can overflow the JVM stack")
    p.add_argument("--blocks", type=int, default=None,
                   help="ALS user and item blocks (default: MLlib's 10; a local run is faster with fewer)")
    a = p.parse_args(argv)
    if a.factors < 1 or a.iterations < 1 or a.regularization < 0 or a.alpha <= 0:
        p.error("need factors >= 1, iterations >= 1, regularization >= 0, alpha > 0")
    return a


def main(argv):
    a = parse_args(argv)
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession, functions as F, types as T

    builder = SparkSession.builder.appName("shopai-als").config("spark.ui.showConsoleProgress", "false")
    if a.master:
        builder = builder.master(a.master)
        if a.master.startswith("local"):
            # A local run listens on loopback only and starts no web UI.
            builder = (builder.config("spark.driver.host", "127.0.0.1")
                       .config("spark.driver.extraJavaOptions", "-Xss16m")
                       .config("spark.driver.bindAddress", "127.0.0.1")
                       .config("spark.ui.enabled", "false"))
    if a.partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(a.partitions))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    checkpoint = a.checkpoint_dir
    if checkpoint is None and a.master and a.master.startswith("local"):
        checkpoint = tempfile.mkdtemp(prefix="shopai-als-checkpoint-")
    if checkpoint:
        spark.sparkContext.setCheckpointDir(checkpoint)
    started = time.time()

    df = spark.read.parquet(*a.input).select("user_id", "product_id", "rating")
    value = F.lit(1.0) if a.confidence == "binary" else F.greatest(F.col("rating").cast("double"), F.lit(0.0))
    # One row per (user, product), as ShopAI's matrix holds it (the last value wins there; here the max).
    pairs = df.groupBy("user_id", "product_id").agg(F.max(value).alias("value")).cache()
    users = StringIndexer(inputCol="user_id", outputCol="u", stringOrderType="alphabetAsc").fit(pairs)
    items = StringIndexer(inputCol="product_id", outputCol="i", stringOrderType="alphabetAsc").fit(pairs)
    data = items.transform(users.transform(pairs)).select(
        F.col("u").cast("int").alias("u"), F.col("i").cast("int").alias("i"), "value")
    nnz = pairs.count()
    n_users, n_items = len(users.labels), len(items.labels)

    alpha = max(a.alpha - 1.0, 0.0) if a.confidence == "binary" else a.alpha
    if a.confidence == "binary" and a.alpha < 1.0:
        print(f"warning: alpha {a.alpha} < 1 has no MLlib equivalent (MLlib confidence is at least 1); using 0",
              file=sys.stderr)
    mean_n = 2.0 * nnz / (n_users + n_items)
    reg = a.regularization / mean_n if a.reg_scaling == "shopai" else a.regularization

    als = ALS(rank=a.factors, maxIter=a.iterations, regParam=reg, alpha=alpha, implicitPrefs=True,
              userCol="u", itemCol="i", ratingCol="value", seed=a.seed, nonnegative=False)
    if a.blocks:
        als = als.setNumUserBlocks(a.blocks).setNumItemBlocks(a.blocks)
    model = als.fit(data)

    labels = spark.createDataFrame(list(enumerate(items.labels)), ["i", "product_id"])
    factors = (model.itemFactors.join(labels, model.itemFactors.id == labels.i)
               .select(F.col("product_id").cast("string").alias("id"),
                       F.col("features").cast(T.ArrayType(T.FloatType())).alias("features")))
    written = factors.count()
    factors.coalesce(1).write.mode("overwrite").parquet(a.output)
    summary = {
        "output": a.output, "interactions": nnz, "users": n_users, "items": n_items, "factors_written": written,
        "rank": a.factors, "iterations": a.iterations, "mllib_alpha": alpha, "mllib_reg_param": reg,
        "shopai_regularization": a.regularization, "shopai_alpha": a.alpha, "mean_interactions_per_row": mean_n,
        "seconds": round(time.time() - started, 2), "spark": spark.version,
    }
    print(json.dumps(summary))
    spark.stop()
    if checkpoint and not a.checkpoint_dir:
        shutil.rmtree(checkpoint, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
