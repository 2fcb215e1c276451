SELECT
  *
FROM (
  SELECT
    "t10"."customer_id",
    "t10"."invoice_id",
    "t10"."line_id",
    "t10"."currency",
    "t10"."subscription_id",
    "t10"."plan_id",
    "t10"."product_id",
    "t10"."service_period_start",
    "t10"."service_period_end",
    "t10"."start",
    "t10"."end",
    "t3"."rate",
    CAST(ROUND(
      (
        (
          "t10"."net" / "t10"."months"
        ) / "t3"."rate"
      ) * 100 * 1.000000000001,
      0
    ) AS BIGINT) AS "mrr_cents",
    CAST(ROUND((
      "t10"."net" / "t10"."months"
    ) * 1000000 * 1.000000000001, 0) AS BIGINT) AS "mrr_micros"
  FROM (
    SELECT
      "t8"."invoice_id",
      "t8"."line_id",
      "t8"."customer_id",
      "t8"."invoice_date",
      "t8"."currency",
      "t8"."kind",
      "t8"."subscription_id",
      COALESCE("t8"."plan_id", "t8"."sub_plan_id") AS "plan_id",
      "t8"."product_id",
      "t8"."service_period_start",
      "t8"."service_period_end",
      "t8"."quantity",
      "t8"."amount",
      "t8"."discount",
      "t8"."tax",
      "t8"."status",
      "t8"."net",
      "t8"."months",
      "t8"."start",
      CASE
        WHEN (
          "t8"."ended_at" IS NOT NULL
        ) AND (
          "t8"."ended_at" < "t8"."end"
        )
        THEN "t8"."ended_at"
        ELSE "t8"."end"
      END AS "end",
      "t8"."sub_id",
      "t8"."sub_plan_id",
      "t8"."ended_at"
    FROM (
      SELECT
        "t7"."invoice_id",
        "t7"."line_id",
        "t7"."customer_id",
        "t7"."invoice_date",
        "t7"."currency",
        "t7"."kind",
        "t7"."subscription_id",
        "t7"."plan_id",
        "t7"."product_id",
        "t7"."service_period_start",
        "t7"."service_period_end",
        "t7"."quantity",
        "t7"."amount",
        "t7"."discount",
        "t7"."tax",
        "t7"."status",
        "t7"."net",
        "t7"."months",
        "t7"."start",
        "t7"."end",
        "t5"."sub_id",
        "t5"."sub_plan_id",
        "t5"."ended_at"
      FROM (
        SELECT
          "t1"."invoice_id",
          "t1"."line_id",
          "t1"."customer_id",
          "t1"."invoice_date",
          "t1"."currency",
          "t1"."kind",
          "t1"."subscription_id",
          "t1"."plan_id",
          "t1"."product_id",
          "t1"."service_period_start",
          "t1"."service_period_end",
          "t1"."quantity",
          "t1"."amount",
          "t1"."discount",
          "t1"."tax",
          "t1"."status",
          CASE
            WHEN "t1"."amount" >= 0
            THEN GREATEST("t1"."amount" - "t1"."discount", 0)
            ELSE "t1"."amount" - "t1"."discount"
          END AS "net",
          CASE
            WHEN (
              (
                EXTRACT(day FROM "t1"."service_period_end") = LEAST(
                  EXTRACT(day FROM "t1"."service_period_start"),
                  EXTRACT(day FROM (
                    DATE_TRUNC('MONTH', "t1"."service_period_end") + INTERVAL '1' MONTH
                  ) - INTERVAL '1' DAY)
                )
              )
              OR (
                (
                  EXTRACT(day FROM "t1"."service_period_start") = EXTRACT(day FROM (
                    DATE_TRUNC('MONTH', "t1"."service_period_start") + INTERVAL '1' MONTH
                  ) - INTERVAL '1' DAY)
                )
                AND (
                  EXTRACT(day FROM "t1"."service_period_end") >= EXTRACT(day FROM "t1"."service_period_start")
                )
              )
            )
            AND (
              (
                (
                  (
                    EXTRACT(year FROM "t1"."service_period_end") - EXTRACT(year FROM "t1"."service_period_start")
                  ) * 12
                ) + (
                  EXTRACT(month FROM "t1"."service_period_end") - EXTRACT(month FROM "t1"."service_period_start")
                )
              ) > 0
            )
            THEN CAST((
              (
                EXTRACT(year FROM "t1"."service_period_end") - EXTRACT(year FROM "t1"."service_period_start")
              ) * 12
            ) + (
              EXTRACT(month FROM "t1"."service_period_end") - EXTRACT(month FROM "t1"."service_period_start")
            ) AS DOUBLE)
            ELSE DATE_DIFF('DAY', "t1"."service_period_start", "t1"."service_period_end") / 30.4375
          END AS "months",
          "t1"."service_period_start" AS "start",
          "t1"."service_period_end" AS "end"
        FROM "invoice_lines" AS "t1"
        WHERE
          "t1"."kind" IN ('subscription', 'usage')
          AND "t1"."status" <> 'void'
          AND "t1"."service_period_end" > "t1"."service_period_start"
      ) AS "t7"
      LEFT OUTER JOIN (
        SELECT
          "t2"."subscription_id" AS "sub_id",
          "t2"."plan_id" AS "sub_plan_id",
          "t2"."ended_at"
        FROM "subscriptions" AS "t2"
      ) AS "t5"
        ON "t7"."subscription_id" = "t5"."sub_id"
    ) AS "t8"
  ) AS "t10"
  LEFT OUTER JOIN "rates" AS "t3"
    ON "t10"."currency" = "t3"."currency" AND "t10"."service_period_start" = "t3"."day"
) AS "t11"
WHERE
  "t11"."end" > "t11"."start"
