WITH "t13" AS (
  SELECT
    "t12"."customer_id",
    "t12"."ax_plan",
    "t12"."day",
    "t12"."v1_cents",
    "t12"."v1_cents" - "t12"."d_cents" AS "v0_cents"
  FROM (
    SELECT
      "t8"."customer_id",
      "t8"."ax_plan",
      "t8"."day",
      "t8"."d_cents",
      SUM("t8"."d_cents") OVER (
        PARTITION BY "t8"."customer_id", "t8"."ax_plan"
        ORDER BY "t8"."day" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS "v1_cents"
    FROM (
      SELECT
        "t1"."customer_id",
        "t1"."ax_plan",
        "t1"."day",
        SUM("t1"."d_cents") AS "d_cents"
      FROM "events" AS "t1"
      GROUP BY
        1,
        2,
        3
    ) AS "t8"
  ) AS "t12"
)
SELECT
  "t40"."customer_id",
  "t40"."ax_plan",
  "t40"."day",
  "t40"."kind",
  CASE WHEN "t40"."kind" = 'new' THEN "t40"."rest" ELSE 0 END AS "new",
  CASE
    WHEN "t40"."kind" = 'change'
    THEN "t40"."up" - CASE
      WHEN (
        "t40"."kind" = 'change'
      ) AND (
        "t40"."up" > 0
      )
      THEN CAST(ROUND("t40"."moved" * (
        "t40"."cum_up" / "t40"."p_sum"
      ), 0) AS BIGINT) - CAST(ROUND("t40"."moved" * (
        (
          "t40"."cum_up" - "t40"."up"
        ) / "t40"."p_sum"
      ), 0) AS BIGINT)
      ELSE 0
    END
    ELSE 0
  END AS "expansion",
  CASE
    WHEN "t40"."kind" = 'change'
    THEN "t40"."down" - CASE
      WHEN (
        "t40"."kind" = 'change'
      ) AND (
        "t40"."down" > 0
      )
      THEN CAST(ROUND("t40"."moved" * (
        "t40"."cum_down" / "t40"."n_sum"
      ), 0) AS BIGINT) - CAST(ROUND("t40"."moved" * (
        (
          "t40"."cum_down" - "t40"."down"
        ) / "t40"."n_sum"
      ), 0) AS BIGINT)
      ELSE 0
    END
    ELSE 0
  END AS "contraction",
  CASE WHEN "t40"."kind" = 'churn' THEN -(
    "t40"."rest"
  ) ELSE 0 END AS "churn",
  CASE WHEN "t40"."kind" = 'reactivation' THEN "t40"."rest" ELSE 0 END AS "reactivation",
  CASE
    WHEN (
      "t40"."kind" = 'change'
    ) AND (
      "t40"."up" > 0
    )
    THEN CAST(ROUND("t40"."moved" * (
      "t40"."cum_up" / "t40"."p_sum"
    ), 0) AS BIGINT) - CAST(ROUND("t40"."moved" * (
      (
        "t40"."cum_up" - "t40"."up"
      ) / "t40"."p_sum"
    ), 0) AS BIGINT)
    ELSE 0
  END AS "transfer_in",
  CASE
    WHEN (
      "t40"."kind" = 'change'
    ) AND (
      "t40"."down" > 0
    )
    THEN CAST(ROUND("t40"."moved" * (
      "t40"."cum_down" / "t40"."n_sum"
    ), 0) AS BIGINT) - CAST(ROUND("t40"."moved" * (
      (
        "t40"."cum_down" - "t40"."down"
      ) / "t40"."n_sum"
    ), 0) AS BIGINT)
    ELSE 0
  END AS "transfer_out",
  "t40"."fx_cents" AS "fx",
  CASE
    WHEN (
      "t40"."v0" <= 0
    ) AND (
      "t40"."v1" > 0
    )
    THEN 1
    WHEN (
      "t40"."v0" > 0
    ) AND (
      "t40"."v1" <= 0
    )
    THEN -1
    ELSE 0
  END AS "count_change",
  "t40"."v0" AS "v0_cents",
  "t40"."v1" AS "v1_cents"
FROM (
  SELECT
    "t39"."customer_id",
    "t39"."ax_plan",
    "t39"."day",
    "t39"."v1_cents",
    "t39"."v0_cents",
    "t39"."fx_cents",
    "t39"."m0_cents",
    "t39"."m1_cents",
    "t39"."kind",
    "t39"."v0",
    "t39"."v1",
    "t39"."rest",
    "t39"."up",
    "t39"."down",
    "t39"."p_sum",
    "t39"."n_sum",
    LEAST("t39"."p_sum", "t39"."n_sum") AS "moved",
    SUM("t39"."up") OVER (
      PARTITION BY "t39"."customer_id", "t39"."day"
      ORDER BY "t39"."ax_plan" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "cum_up",
    SUM("t39"."down") OVER (
      PARTITION BY "t39"."customer_id", "t39"."day"
      ORDER BY "t39"."ax_plan" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "cum_down"
  FROM (
    SELECT
      "t38"."customer_id",
      "t38"."ax_plan",
      "t38"."day",
      "t38"."v1_cents",
      "t38"."v0_cents",
      "t38"."fx_cents",
      "t38"."m0_cents",
      "t38"."m1_cents",
      "t38"."kind",
      "t38"."v0",
      "t38"."v1",
      "t38"."rest",
      "t38"."up",
      "t38"."down",
      SUM("t38"."up") OVER (
        PARTITION BY "t38"."customer_id", "t38"."day"
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) AS "p_sum",
      SUM("t38"."down") OVER (
        PARTITION BY "t38"."customer_id", "t38"."day"
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) AS "n_sum"
    FROM (
      SELECT
        "t37"."customer_id",
        "t37"."ax_plan",
        "t37"."day",
        "t37"."v1_cents",
        "t37"."v0_cents",
        "t37"."fx_cents",
        "t37"."m0_cents",
        "t37"."m1_cents",
        "t37"."kind",
        "t37"."v0",
        "t37"."v1",
        "t37"."rest",
        CASE WHEN "t37"."rest" > 0 THEN "t37"."rest" ELSE 0 END AS "up",
        CASE WHEN "t37"."rest" < 0 THEN -(
          "t37"."rest"
        ) ELSE 0 END AS "down"
      FROM (
        SELECT
          "t36"."customer_id",
          "t36"."ax_plan",
          "t36"."day",
          "t36"."v1_cents",
          "t36"."v0_cents",
          "t36"."fx_cents",
          "t36"."m0_cents",
          "t36"."m1_cents",
          "t36"."kind",
          CASE WHEN "t36"."m0_cents" > 0 THEN "t36"."v0_cents" ELSE 0 END AS "v0",
          CASE WHEN "t36"."m1_cents" > 0 THEN "t36"."v1_cents" ELSE 0 END AS "v1",
          (
            CASE WHEN "t36"."m1_cents" > 0 THEN "t36"."v1_cents" ELSE 0 END - CASE WHEN "t36"."m0_cents" > 0 THEN "t36"."v0_cents" ELSE 0 END
          ) - "t36"."fx_cents" AS "rest"
        FROM (
          SELECT
            "t35"."customer_id",
            "t35"."ax_plan",
            "t35"."day",
            "t35"."v1_cents",
            "t35"."v0_cents",
            "t35"."fx_cents",
            "t5"."m0_cents",
            "t5"."m1_cents",
            "t5"."kind"
          FROM (
            SELECT
              "t33"."customer_id",
              "t33"."ax_plan",
              "t33"."day",
              "t33"."v1_cents",
              "t33"."v0_cents",
              COALESCE("t33"."fx_cents", 0) AS "fx_cents"
            FROM (
              SELECT
                "t26"."customer_id",
                "t26"."ax_plan",
                "t26"."day",
                "t26"."v1_cents",
                "t26"."v0_cents",
                "t32"."fx_cents"
              FROM (
                SELECT
                  *
                FROM "t13" AS "t14"
                UNION ALL
                SELECT
                  *
                FROM (
                  SELECT
                    *
                  FROM (
                    SELECT
                      "t20"."customer_id",
                      "t20"."ax_plan",
                      "t10"."t_day" AS "day",
                      "t20"."v1_cents",
                      "t20"."v1_cents" AS "v0_cents"
                    FROM (
                      SELECT
                        *
                      FROM (
                        SELECT
                          "t14"."customer_id",
                          "t14"."ax_plan",
                          "t14"."day",
                          "t14"."v1_cents",
                          "t14"."v0_cents",
                          LEAD("t14"."day") OVER (
                            PARTITION BY "t14"."customer_id", "t14"."ax_plan"
                            ORDER BY "t14"."day" ASC
                            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                          ) AS "next_day"
                        FROM "t13" AS "t14"
                      ) AS "t16"
                      WHERE
                        "t16"."v1_cents" <> 0
                    ) AS "t20"
                    INNER JOIN (
                      SELECT
                        "t0"."customer_id" AS "t_customer",
                        "t0"."day" AS "t_day"
                      FROM "customer_states" AS "t0"
                      WHERE
                        "t0"."kind" IN ('new', 'reactivation', 'churn')
                    ) AS "t10"
                      ON "t20"."customer_id" = "t10"."t_customer"
                      AND "t20"."day" < "t10"."t_day"
                      AND (
                        (
                          "t20"."next_day" IS NULL
                        ) OR (
                          "t20"."next_day" > "t10"."t_day"
                        )
                      )
                  ) AS "t22"
                ) AS "t24"
              ) AS "t26"
              LEFT OUTER JOIN (
                SELECT
                  "t30"."customer_id" AS "fx_customer_id",
                  "t30"."ax_plan" AS "fx_ax_plan",
                  "t30"."day" AS "fx_day",
                  "t30"."fx_cents"
                FROM (
                  SELECT
                    "t29"."customer_id",
                    "t29"."ax_plan",
                    "t29"."day",
                    SUM("t29"."fx_cents") AS "fx_cents"
                  FROM (
                    SELECT
                      "t28"."customer_id",
                      "t28"."ax_plan",
                      "t28"."day",
                      CAST(ROUND("t28"."fx_cents" * (
                        "t28"."cum" / "t28"."weight_sum"
                      ), 0) AS BIGINT) - CAST(ROUND(
                        "t28"."fx_cents" * (
                          (
                            "t28"."cum" - "t28"."weight"
                          ) / "t28"."weight_sum"
                        ),
                        0
                      ) AS BIGINT) AS "fx_cents"
                    FROM (
                      SELECT
                        "t27"."customer_id",
                        "t27"."ax_plan",
                        "t27"."currency",
                        "t27"."day",
                        "t27"."d_cents",
                        "t27"."d_micros",
                        "t27"."end_cents",
                        "t27"."end_micros",
                        "t27"."new_cents",
                        "t27"."new_micros",
                        "t27"."fx_customer",
                        "t27"."fx_currency",
                        "t27"."fx_day",
                        "t27"."fx_cents",
                        "t27"."weight",
                        "t27"."weight_sum",
                        SUM("t27"."weight") OVER (
                          PARTITION BY "t27"."customer_id", "t27"."currency", "t27"."day"
                          ORDER BY "t27"."ax_plan" ASC
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                        ) AS "cum"
                      FROM (
                        SELECT
                          "t23"."customer_id",
                          "t23"."ax_plan",
                          "t23"."currency",
                          "t23"."day",
                          "t23"."d_cents",
                          "t23"."d_micros",
                          "t23"."end_cents",
                          "t23"."end_micros",
                          "t23"."new_cents",
                          "t23"."new_micros",
                          "t23"."fx_customer",
                          "t23"."fx_currency",
                          "t23"."fx_day",
                          "t23"."fx_cents",
                          "t23"."weight",
                          SUM("t23"."weight") OVER (
                            PARTITION BY "t23"."customer_id", "t23"."currency", "t23"."day"
                            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                          ) AS "weight_sum"
                        FROM (
                          SELECT
                            "t21"."customer_id",
                            "t21"."ax_plan",
                            "t21"."currency",
                            "t21"."day",
                            "t21"."d_cents",
                            "t21"."d_micros",
                            "t21"."end_cents",
                            "t21"."end_micros",
                            "t21"."new_cents",
                            "t21"."new_micros",
                            "t21"."fx_customer",
                            "t21"."fx_currency",
                            "t21"."fx_day",
                            "t21"."fx_cents",
                            CAST(ABS("t21"."end_micros") AS DOUBLE) AS "weight"
                          FROM (
                            SELECT
                              "t2"."customer_id",
                              "t2"."ax_plan",
                              "t2"."currency",
                              "t2"."day",
                              "t2"."d_cents",
                              "t2"."d_micros",
                              "t2"."end_cents",
                              "t2"."end_micros",
                              "t2"."new_cents",
                              "t2"."new_micros",
                              "t18"."fx_customer",
                              "t18"."fx_currency",
                              "t18"."fx_day",
                              "t18"."fx_cents"
                            FROM "events" AS "t2"
                            INNER JOIN (
                              SELECT
                                "t15"."customer_id" AS "fx_customer",
                                "t15"."currency" AS "fx_currency",
                                "t15"."day" AS "fx_day",
                                "t15"."fx_cents"
                              FROM (
                                SELECT
                                  "t11"."customer_id",
                                  "t11"."currency",
                                  "t11"."day",
                                  CASE
                                    WHEN (
                                      "t7"."st_kind" = 'change'
                                    )
                                    AND (
                                      "t11"."currency" <> 'USD'
                                    )
                                    AND (
                                      "t11"."new_micros" > 0
                                    )
                                    AND (
                                      "t11"."end_micros" <> 0
                                    )
                                    THEN CAST(ROUND(
                                      (
                                        CAST("t11"."end_micros" AS DOUBLE) * "t11"."new_cents"
                                      ) / "t11"."new_micros",
                                      0
                                    ) AS BIGINT) - "t11"."end_cents"
                                    ELSE 0
                                  END AS "fx_cents"
                                FROM (
                                  SELECT
                                    "t1"."customer_id",
                                    "t1"."currency",
                                    "t1"."day",
                                    SUM("t1"."d_cents") AS "d_cents",
                                    SUM("t1"."d_micros") AS "d_micros",
                                    SUM("t1"."end_cents") AS "end_cents",
                                    SUM("t1"."end_micros") AS "end_micros",
                                    SUM("t1"."new_cents") AS "new_cents",
                                    SUM("t1"."new_micros") AS "new_micros"
                                  FROM "events" AS "t1"
                                  GROUP BY
                                    1,
                                    2,
                                    3
                                ) AS "t11"
                                INNER JOIN (
                                  SELECT
                                    "t0"."customer_id" AS "st_customer",
                                    "t0"."day" AS "st_day",
                                    "t0"."kind" AS "st_kind"
                                  FROM "customer_states" AS "t0"
                                ) AS "t7"
                                  ON "t11"."customer_id" = "t7"."st_customer" AND "t11"."day" = "t7"."st_day"
                              ) AS "t15"
                              WHERE
                                "t15"."fx_cents" <> 0
                            ) AS "t18"
                              ON "t2"."customer_id" = "t18"."fx_customer"
                              AND "t2"."currency" = "t18"."fx_currency"
                              AND "t2"."day" = "t18"."fx_day"
                          ) AS "t21"
                        ) AS "t23"
                      ) AS "t27"
                    ) AS "t28"
                  ) AS "t29"
                  GROUP BY
                    1,
                    2,
                    3
                ) AS "t30"
              ) AS "t32"
                ON "t26"."customer_id" = "t32"."fx_customer_id"
                AND "t26"."ax_plan" = "t32"."fx_ax_plan"
                AND "t26"."day" = "t32"."fx_day"
            ) AS "t33"
          ) AS "t35"
          INNER JOIN (
            SELECT
              "t0"."customer_id" AS "st_customer",
              "t0"."day" AS "st_day",
              "t0"."m0_cents",
              "t0"."m1_cents",
              "t0"."kind"
            FROM "customer_states" AS "t0"
          ) AS "t5"
            ON "t35"."customer_id" = "t5"."st_customer" AND "t35"."day" = "t5"."st_day"
        ) AS "t36"
      ) AS "t37"
    ) AS "t38"
  ) AS "t39"
) AS "t40"
