// The data expectations scoring checks batches against: the list, removing one, attaching one.
import { Box, Button, Code, Field, HStack, Input, Stack, Table, Textarea } from "@chakra-ui/react";
import { useState } from "react";

import { api } from "../api.js";
import { ErrorAlert, FieldError, Time } from "../common.jsx";
import { TrashIcon } from "../icons.jsx";
import { ColumnHeaders, Empty, ScrollTable } from "./tables.jsx";

const ExpectationForm = ({ modelName, onChanged }) => {
  const [type, setType] = useState("");
  const [kwargs, setKwargs] = useState('{"column": ""}');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const add = async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(kwargs || "{}");
    } catch (err) {
      setError({ field: "kwargs", message: `Not JSON: ${err.message}` });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api(["models", modelName, "expectations"], {
        method: "POST",
        body: { expectation_type: type.trim(), kwargs: parsed },
      });
      setType("");
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const typeError = error && (error.field === "expectation_type" || !error.field) ? error.message : null;
  const kwargsError = error?.field === "kwargs" ? error.message : null;
  return (
    <Box as="form" data-testid="expectation-form" noValidate onSubmit={add}>
      <HStack alignItems="flex-start" flexWrap="wrap" gap={3}>
        <Field.Root invalid={Boolean(typeError)} w="22rem">
          <Field.Label>Expectation type</Field.Label>
          <Input
            data-testid="expectation-type"
            fontFamily="mono"
            onChange={(event) => setType(event.target.value)}
            placeholder="expect_column_values_to_not_be_null"
            size="sm"
            value={type}
          />
          <FieldError error={typeError} field="expectation_type" />
        </Field.Root>
        <Field.Root flex="1" invalid={Boolean(kwargsError)} minW="16rem">
          <Field.Label>Arguments (JSON)</Field.Label>
          <Textarea
            data-testid="expectation-kwargs"
            fontFamily="mono"
            onChange={(event) => setKwargs(event.target.value)}
            rows={1}
            size="sm"
            value={kwargs}
          />
          <FieldError error={kwargsError} field="kwargs" />
        </Field.Root>
        <Button data-testid="expectation-add" disabled={!type.trim()} loading={busy} mt={6} size="sm" type="submit" variant="outline">
          Attach
        </Button>
      </HStack>
    </Box>
  );
};

export const Expectations = ({ expectations, canChange, modelName, onChanged }) => {
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const remove = async (id) => {
    setError(null);
    try {
      await api(["expectations", id], { method: "DELETE", body: {} });
      setConfirm(null);
      onChanged?.();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Stack gap={3}>
      {expectations.length ? (
        <ScrollTable testId="expectations-table">
          <ColumnHeaders cells={["Expectation", "Arguments", "By", "Attached", ...(canChange ? [""] : [])]} />
          <Table.Body>
            {expectations.map((e) => (
              <Table.Row data-id={e.id} data-testid="expectation-row" key={e.id}>
                <Table.Cell fontFamily="mono" fontSize="xs">
                  {e.expectation_type}
                </Table.Cell>
                <Table.Cell>
                  <Code fontSize="xs" whiteSpace="pre-wrap" wordBreak="break-all">
                    {JSON.stringify(e.kwargs ?? {})}
                  </Code>
                </Table.Cell>
                <Table.Cell>{e.created_by ?? "—"}</Table.Cell>
                <Table.Cell>
                  <Time fontSize="xs" iso={e.created_at} />
                </Table.Cell>
                {canChange && (
                  <Table.Cell textAlign="end" whiteSpace="nowrap">
                    {confirm === e.id ? (
                      <HStack gap={1} justifyContent="flex-end">
                        <Button onClick={() => setConfirm(null)} size="xs" variant="ghost">
                          Cancel
                        </Button>
                        <Button colorPalette="danger" onClick={() => remove(e.id)} size="xs">
                          Confirm
                        </Button>
                      </HStack>
                    ) : (
                      <Button colorPalette="danger" onClick={() => setConfirm(e.id)} size="xs" variant="ghost">
                        <TrashIcon />
                        Remove
                      </Button>
                    )}
                  </Table.Cell>
                )}
              </Table.Row>
            ))}
          </Table.Body>
        </ScrollTable>
      ) : (
        <Empty testId="expectations-empty">No expectations are attached: scoring validates nothing but the schema.</Empty>
      )}
      {error && <ErrorAlert error={error} title="Cannot remove the expectation" />}
      {canChange && <ExpectationForm modelName={modelName} onChanged={onChanged} />}
    </Stack>
  );
};
