SELECT
  "t4"."customer_id",
  "t4"."day",
  GREATEST("t4"."raw0_cents", 0) AS "m0_cents",
  GREATEST("t4"."raw1_cents", 0) AS "m1_cents",
  CASE
    WHEN (
      GREATEST("t4"."raw0_cents", 0) = 0
    )
    AND (
      GREATEST("t4"."raw1_cents", 0) > 0
    )
    AND (
      "t4"."paid_before" = 0
    )
    THEN 'new'
    WHEN (
      GREATEST("t4"."raw0_cents", 0) = 0
    )
    AND (
      GREATEST("t4"."raw1_cents", 0) > 0
    )
    THEN 'reactivation'
    WHEN (
      GREATEST("t4"."raw0_cents", 0) > 0
    )
    AND (
      GREATEST("t4"."raw1_cents", 0) = 0
    )
    THEN 'churn'
    WHEN (
      GREATEST("t4"."raw0_cents", 0) > 0
    )
    AND (
      GREATEST("t4"."raw1_cents", 0) > 0
    )
    THEN 'change'
    ELSE 'none'
  END AS "kind"
FROM (
  SELECT
    "t3"."customer_id",
    "t3"."day",
    "t3"."d_cents",
    "t3"."raw1_cents",
    "t3"."raw0_cents",
    COALESCE(
      MAX(CAST("t3"."raw1_cents" > 0 AS TINYINT)) OVER (
        PARTITION BY "t3"."customer_id"
        ORDER BY "t3"."day" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 preceding
      ),
      0
    ) AS "paid_before"
  FROM (
    SELECT
      "t2"."customer_id",
      "t2"."day",
      "t2"."d_cents",
      "t2"."raw1_cents",
      "t2"."raw1_cents" - "t2"."d_cents" AS "raw0_cents"
    FROM (
      SELECT
        "t1"."customer_id",
        "t1"."day",
        "t1"."d_cents",
        SUM("t1"."d_cents") OVER (
          PARTITION BY "t1"."customer_id"
          ORDER BY "t1"."day" ASC
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS "raw1_cents"
      FROM (
        SELECT
          "t0"."customer_id",
          "t0"."day",
          SUM("t0"."d_cents") AS "d_cents"
        FROM "events" AS "t0"
        GROUP BY
          1,
          2
      ) AS "t1"
    ) AS "t2"
  ) AS "t3"
) AS "t4"
