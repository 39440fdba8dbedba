import type { AnnotationQuery, Dashboard, DataQuery } from "@grafana/schema";

// The one shim between plain JSON and @grafana/schema's types (used by the generated
// .generated/dashboards.ts that tests/test_dashboards.py writes and type-checks).
//
// TypeScript string enums are nominal: the JSON string "absolute" is not assignable to
// ThresholdsMode.Absolute, although it is exactly what Grafana stores and reads. Plain<T>
// replaces every string enum in T by the union of its values (`${Enum}`) and leaves everything
// else as it is, so a wrong value ("absolut") or a wrong key is still a type error. Numeric
// enums need no shim: a number literal that is a member's value is assignable.
export type Plain<T> = T extends string
  ? string extends T
    ? T
    : `${T}`
  : T extends readonly (infer U)[]
    ? Plain<U>[]
    : T extends object
      ? { [K in keyof T]: Plain<T[K]> }
      : T;

// @grafana/schema types an annotation's query as a bare DataQuery (refId, hide, ...); what a
// Prometheus annotation adds is the data source plugin's (packages/grafana-prometheus, not on
// npm as types): the query in `target`, and title/text/tag formatting beside it.
interface PrometheusAnnotationQuery extends DataQuery {
  expr: string;
  interval?: string;
}
interface PrometheusAnnotation extends AnnotationQuery<PrometheusAnnotationQuery> {
  tagKeys?: string;
  textFormat?: string;
  titleFormat?: string;
  useValueForTime?: boolean;
}

/** A dashboard as these generators write it: Grafana's Dashboard type, Prometheus
 * annotations, JSON strings for string enums. */
export type PrometheusDashboard = Plain<
  Omit<Dashboard, "annotations"> & { annotations?: { list?: (AnnotationQuery | PrometheusAnnotation)[] } }
>;
