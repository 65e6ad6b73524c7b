// Every version with its aliases, origin and each metric, training beside validation.
import { Badge, HStack, Table, Text } from "@chakra-ui/react";
import { useMemo } from "react";

import { Muted, Time } from "../common.jsx";
import { formatMetric } from "../format.js";
import { Empty, ScrollTable } from "./tables.jsx";

export const VersionsTable = ({ versions }) => {
  const metrics = useMemo(() => {
    const names = new Set();
    for (const v of versions) {
      Object.keys(v.training_metrics ?? {}).forEach((k) => names.add(k));
      Object.keys(v.validation_metrics ?? {}).forEach((k) => names.add(k));
    }
    return Array.from(names).sort();
  }, [versions]);
  if (!versions.length) return <Empty>No versions.</Empty>;
  return (
    <ScrollTable testId="versions-table">
      <Table.Header>
        <Table.Row>
          <Table.ColumnHeader rowSpan={2}>Version</Table.ColumnHeader>
          <Table.ColumnHeader rowSpan={2}>Aliases</Table.ColumnHeader>
          <Table.ColumnHeader rowSpan={2}>Created</Table.ColumnHeader>
          <Table.ColumnHeader rowSpan={2}>Flavor / origin</Table.ColumnHeader>
          {metrics.map((metric) => (
            <Table.ColumnHeader
              borderInlineStartWidth="1px"
              colSpan={2}
              key={metric}
              textAlign="center"
              whiteSpace="nowrap"
            >
              {metric}
            </Table.ColumnHeader>
          ))}
        </Table.Row>
        <Table.Row>
          {metrics.map((metric) => [
            <Table.ColumnHeader borderInlineStartWidth="1px" color="fg.muted" fontWeight="normal" key={`${metric}-t`} textAlign="end">
              training
            </Table.ColumnHeader>,
            <Table.ColumnHeader color="fg.muted" fontWeight="normal" key={`${metric}-v`} textAlign="end">
              validation
            </Table.ColumnHeader>,
          ])}
        </Table.Row>
      </Table.Header>
      <Table.Body>
        {versions.map((v) => (
          <Table.Row data-testid="version-row" data-version={v.version} key={v.version}>
            <Table.Cell fontWeight="semibold">v{v.version}</Table.Cell>
            <Table.Cell>
              {(v.aliases ?? []).length ? (
                <HStack gap={1}>
                  {v.aliases.map((a) => (
                    <Badge colorPalette="brand" key={a} size="sm" variant="surface">
                      {a}
                    </Badge>
                  ))}
                </HStack>
              ) : (
                <Muted>—</Muted>
              )}
            </Table.Cell>
            <Table.Cell>
              <Time fontSize="xs" iso={v.created_at} />
            </Table.Cell>
            <Table.Cell>
              <Text fontSize="xs">
                {[v.flavor, v.task].filter(Boolean).join(" · ") || "—"}
              </Text>
              <Muted>{v.origin}</Muted>
            </Table.Cell>
            {metrics.map((metric) => [
              <Table.Cell
                borderInlineStartWidth="1px"
                fontVariantNumeric="tabular-nums"
                key={`${metric}-t`}
                textAlign="end"
              >
                {formatMetric(v.training_metrics?.[metric]) || <Muted>—</Muted>}
              </Table.Cell>,
              <Table.Cell fontVariantNumeric="tabular-nums" fontWeight="medium" key={`${metric}-v`} textAlign="end">
                {formatMetric(v.validation_metrics?.[metric]) || <Muted>—</Muted>}
              </Table.Cell>,
            ])}
          </Table.Row>
        ))}
      </Table.Body>
    </ScrollTable>
  );
};
