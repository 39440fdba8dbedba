// Proof that the check can fail: each line below must be a type error, or tsc reports the
// unused `@ts-expect-error` directive and the test fails. Mistakes a generator could make.
import type { PrometheusDashboard } from "./plain";

// @ts-expect-error schemaVersion is required
export const noSchemaVersion: PrometheusDashboard = { title: "x" };
// @ts-expect-error an unknown dashboard key (an Angular-era `rows`)
export const legacyRows: PrometheusDashboard = { schemaVersion: 42, rows: [] };
export const badThresholdMode: PrometheusDashboard = {
  schemaVersion: 42,
  panels: [
    {
      type: "stat",
      // @ts-expect-error a string enum value Grafana does not know ("absolut")
      fieldConfig: { defaults: { thresholds: { mode: "absolut", steps: [] } }, overrides: [] },
    },
  ],
};
export const badRefresh: PrometheusDashboard = {
  schemaVersion: 42,
  // @ts-expect-error a numeric enum value out of range (variable refresh is 0, 1 or 2)
  templating: { list: [{ name: "v", type: "query", refresh: 7 }] },
};
export const badAnnotation: PrometheusDashboard = {
  schemaVersion: 42,
  annotations: {
    list: [
      {
        datasource: { type: "prometheus", uid: "x" },
        enable: true,
        iconColor: "purple",
        name: "Deploys",
        target: { expr: "up", refId: "Anno" },
        // @ts-expect-error a Prometheus annotation's titleFormat is a string
        titleFormat: 1,
      },
    ],
  },
};
