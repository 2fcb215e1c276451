WITH "t5" AS (
  SELECT
    *
  FROM (
    SELECT
      "t3"."customer_id",
      "t3"."ax_plan",
      "t3"."currency",
      "t3"."day",
      SUM("t3"."d_cents") AS "d_cents",
      SUM("t3"."d_micros") AS "d_micros",
      SUM("t3"."end_cents") AS "end_cents",
      SUM("t3"."end_micros") AS "end_micros",
      SUM("t3"."new_cents") AS "new_cents",
      SUM("t3"."new_micros") AS "new_micros"
    FROM (
      SELECT
        *
      FROM (
        SELECT
          "t0"."customer_id",
          "t0"."plan_id" AS "ax_plan",
          "t0"."currency",
          "t0"."start" AS "day",
          "t0"."mrr_cents" AS "d_cents",
          "t0"."mrr_micros" AS "d_micros",
          0 AS "end_cents",
          0 AS "end_micros",
          CASE WHEN "t0"."mrr_micros" > 0 THEN "t0"."mrr_cents" ELSE 0 END AS "new_cents",
          CASE WHEN "t0"."mrr_micros" > 0 THEN "t0"."mrr_micros" ELSE 0 END AS "new_micros"
        FROM "line_mrr" AS "t0"
      ) AS "t2"
      UNION ALL
      SELECT
        *
      FROM (
        SELECT
          "t0"."customer_id",
          "t0"."plan_id" AS "ax_plan",
          "t0"."currency",
          "t0"."end" AS "day",
          -(
            "t0"."mrr_cents"
          ) AS "d_cents",
          -(
            "t0"."mrr_micros"
          ) AS "d_micros",
          "t0"."mrr_cents" AS "end_cents",
          "t0"."mrr_micros" AS "end_micros",
          0 AS "new_cents",
          0 AS "new_micros"
        FROM "line_mrr" AS "t0"
      ) AS "t1"
    ) AS "t3"
    GROUP BY
      1,
      2,
      3,
      4
  ) AS "t4"
  WHERE
    (
      "t4"."d_cents" <> 0
    ) OR (
      "t4"."d_micros" <> 0
    )
)
SELECT
  *
FROM (
  SELECT
    "t15"."customer_id",
    "t15"."ax_plan",
    "t15"."currency",
    "t15"."day",
    SUM("t15"."d_cents") AS "d_cents",
    SUM("t15"."d_micros") AS "d_micros",
    SUM("t15"."end_cents") AS "end_cents",
    SUM("t15"."end_micros") AS "end_micros",
    SUM("t15"."new_cents") AS "new_cents",
    SUM("t15"."new_micros") AS "new_micros"
  FROM (
    SELECT
      "t14"."customer_id",
      "t14"."ax_plan",
      "t14"."currency",
      COALESCE("t14"."resume_day", "t14"."day") AS "day",
      "t14"."d_cents",
      "t14"."d_micros",
      "t14"."end_cents",
      "t14"."end_micros",
      "t14"."new_cents",
      "t14"."new_micros"
    FROM (
      SELECT
        "t7"."customer_id",
        "t7"."ax_plan",
        "t7"."currency",
        "t7"."day",
        "t7"."d_cents",
        "t7"."d_micros",
        "t7"."end_cents",
        "t7"."end_micros",
        "t7"."new_cents",
        "t7"."new_micros",
        "t13"."gap_customer",
        "t13"."gap_day",
        "t13"."resume_day"
      FROM "t5" AS "t7"
      LEFT OUTER JOIN (
        SELECT
          "t11"."customer_id" AS "gap_customer",
          "t11"."day" AS "gap_day",
          "t11"."next_day" AS "resume_day"
        FROM (
          SELECT
            "t10"."customer_id",
            "t10"."day",
            "t10"."d_cents",
            "t10"."raw1_cents",
            "t10"."raw0_cents",
            LEAD("t10"."day") OVER (
              PARTITION BY "t10"."customer_id"
              ORDER BY "t10"."day" ASC
              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
            ) AS "next_day",
            LEAD("t10"."raw1_cents") OVER (
              PARTITION BY "t10"."customer_id"
              ORDER BY "t10"."day" ASC
              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
            ) AS "next_raw1"
          FROM (
            SELECT
              "t9"."customer_id",
              "t9"."day",
              "t9"."d_cents",
              "t9"."raw1_cents",
              "t9"."raw1_cents" - "t9"."d_cents" AS "raw0_cents"
            FROM (
              SELECT
                "t8"."customer_id",
                "t8"."day",
                "t8"."d_cents",
                SUM("t8"."d_cents") OVER (
                  PARTITION BY "t8"."customer_id"
                  ORDER BY "t8"."day" ASC
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                ) AS "raw1_cents"
              FROM (
                SELECT
                  "t6"."customer_id",
                  "t6"."day",
                  SUM("t6"."d_cents") AS "d_cents"
                FROM "t5" AS "t6"
                GROUP BY
                  1,
                  2
              ) AS "t8"
            ) AS "t9"
          ) AS "t10"
        ) AS "t11"
        WHERE
          "t11"."raw1_cents" <= 0
          AND "t11"."raw0_cents" > 0
          AND "t11"."next_day" IS NOT NULL
          AND "t11"."next_raw1" > 0
          AND DATE_DIFF('DAY', "t11"."day", "t11"."next_day") <= 3
      ) AS "t13"
        ON "t7"."customer_id" = "t13"."gap_customer" AND "t7"."day" = "t13"."gap_day"
    ) AS "t14"
  ) AS "t15"
  GROUP BY
    1,
    2,
    3,
    4
) AS "t16"
WHERE
  (
    "t16"."d_cents" <> 0
  ) OR (
    "t16"."d_micros" <> 0
  )
