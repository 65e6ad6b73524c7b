// The model's scoring runs; the chosen run's paths, error and drift of each feature below them.
import { Box, Button, HStack, Stack, Table, Text } from "@chakra-ui/react";
import { useState } from "react";

import { Muted, StateBadge, Time } from "../common.jsx";
import { DriftChart } from "../DriftChart.jsx";
import { formatCount, formatDuration, formatRate } from "../format.js";
import { ColumnHeaders, Empty, ScrollTable } from "./tables.jsx";

export const ScoringRuns = ({ runs }) => {
  const [chosen, setChosen] = useState(() => (runs.find((r) => r.drift && Object.keys(r.drift).length) ?? runs[0])?.id ?? null);
  if (!runs.length) return <Empty testId="scoring-runs-empty">This model was never scored.</Empty>;
  const run = runs.find((r) => r.id === chosen) ?? runs[0];
  return (
    <Stack gap={4}>
      <ScrollTable interactive testId="scoring-runs-table">
        <ColumnHeaders
          cells={["Run", "Status", "Version", "Policy", "Rows in", "Scored", "Rejected", "Rows/s", "Duration", "Started", ""]}
        />
        <Table.Body>
          {runs.map((r) => {
            const selected = r.id === run.id;
            return (
              <Table.Row
                aria-selected={selected}
                bg={selected ? "brand.subtle" : undefined}
                cursor="pointer"
                data-run={r.id}
                data-testid="scoring-run-row"
                key={r.id}
                onClick={() => setChosen(r.id)}
              >
                <Table.Cell fontFamily="mono" fontSize="xs" maxW="16rem" title={r.id} truncate>
                  {r.id}
                </Table.Cell>
                <Table.Cell>
                  <StateBadge state={r.status} />
                </Table.Cell>
                <Table.Cell>{r.model_version !== null && r.model_version !== undefined ? `v${r.model_version}` : "—"}</Table.Cell>
                <Table.Cell>{r.policy ?? "—"}</Table.Cell>
                <Table.Cell textAlign="end">{formatCount(r.rows_in)}</Table.Cell>
                <Table.Cell textAlign="end">{formatCount(r.rows_scored)}</Table.Cell>
                <Table.Cell color={r.rows_rejected ? "fg.warning" : undefined} textAlign="end">
                  {formatCount(r.rows_rejected)}
                </Table.Cell>
                <Table.Cell textAlign="end" whiteSpace="nowrap">
                  {formatRate(r.rows_per_s)}
                </Table.Cell>
                <Table.Cell whiteSpace="nowrap">{formatDuration(r.duration_s)}</Table.Cell>
                <Table.Cell>
                  <Time fontSize="xs" iso={r.started_at} />
                </Table.Cell>
                <Table.Cell>
                  <Button
                    data-testid="show-drift"
                    onClick={(event) => {
                      event.stopPropagation();
                      setChosen(r.id);
                    }}
                    size="xs"
                    variant={selected ? "subtle" : "ghost"}
                  >
                    Drift
                  </Button>
                </Table.Cell>
              </Table.Row>
            );
          })}
        </Table.Body>
      </ScrollTable>
      <Box data-run={run.id} data-testid="scoring-run-detail">
        <HStack flexWrap="wrap" gap={3} mb={2}>
          <Text fontWeight="semibold">Drift (PSI) of each feature</Text>
          <Muted fontFamily="mono">{run.id}</Muted>
        </HStack>
        {run.error && (
          <Text color="fg.error" fontSize="sm" mb={2} whiteSpace="pre-wrap">
            {run.error}
          </Text>
        )}
        <Text color="fg.muted" fontFamily="mono" fontSize="xs" mb={3} wordBreak="break-all">
          {run.input_path} → {run.output_path}
          {run.mlflow_run_id ? ` · MLflow run ${run.mlflow_run_id}` : ""}
        </Text>
        <DriftChart drift={run.drift} runId={run.id} />
      </Box>
    </Stack>
  );
};
