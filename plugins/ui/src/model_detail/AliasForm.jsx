// Set, move or remove an alias of the model (people with the op or admin role).
import { Box, Button, Field, HStack, Input, Text } from "@chakra-ui/react";
import { useEffect, useState } from "react";

import { api } from "../api.js";
import { FieldError, SelectField, versionOptions } from "../common.jsx";
import { TrashIcon } from "../icons.jsx";

export const AliasForm = ({ modelName, versions, aliases, onChanged }) => {
  const [alias, setAlias] = useState("");
  const [version, setVersion] = useState(versions.length ? String(versions[0].version) : "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const suggestions = Array.from(new Set([...Object.keys(aliases ?? {}), "champion", "challenger", "production"]));
  useEffect(() => {
    const current = aliases?.[alias.trim()];
    if (current !== undefined) setVersion(String(current));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [alias]);

  const save = async (event) => {
    event.preventDefault();
    const name = alias.trim();
    if (!name) {
      setError({ field: "alias", message: "Name the alias." });
      return;
    }
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await api(["models", modelName, "aliases", name], { method: "PUT", body: { version: Number(version) } });
      setDone(`Set ${name} → v${version}.`);
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (name) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const removed = await api(["models", modelName, "aliases", name], { method: "DELETE", body: {} });
      setDone(`Removed ${removed.alias} (it pointed at v${removed.version}).`);
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const aliasError = error && (error.field === "alias" || !error.field) ? error.message : null;
  const versionError = error && error.field === "version" ? error.message : null;
  return (
    <Box as="form" data-testid="alias-form" noValidate onSubmit={save}>
      <HStack alignItems="flex-start" flexWrap="wrap" gap={3}>
        <Field.Root invalid={Boolean(aliasError)} w="14rem">
          <Field.Label>Alias</Field.Label>
          <Input
            data-testid="alias-name"
            list="modelyard-alias-suggestions"
            onChange={(event) => setAlias(event.target.value)}
            placeholder="e.g. champion"
            size="sm"
            value={alias}
          />
          <datalist id="modelyard-alias-suggestions">
            {suggestions.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
          <FieldError error={aliasError} field="alias" />
        </Field.Root>
        <SelectField
          error={versionError}
          field="version"
          label="Version"
          onChange={setVersion}
          options={versionOptions(versions)}
          testId="alias-version"
          value={version}
          w="14rem"
        />
        <Button colorPalette="brand" data-testid="alias-save" loading={busy} mt={6} size="sm" type="submit">
          Set alias
        </Button>
        {done && (
          <Text color="fg.success" data-testid="alias-saved" fontSize="sm" mt={7}>
            {done}
          </Text>
        )}
      </HStack>
      {Object.keys(aliases ?? {}).length > 0 && (
        <HStack data-testid="alias-list" flexWrap="wrap" gap={2} mt={3}>
          <Text color="fg.muted" fontSize="sm">
            Remove:
          </Text>
          {Object.entries(aliases)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, number]) => (
              <Button
                aria-label={`Remove alias ${name}`}
                data-alias={name}
                data-testid="alias-remove"
                disabled={busy}
                key={name}
                onClick={() => remove(name)}
                size="xs"
                variant="outline"
              >
                <TrashIcon />
                {name}→v{number}
              </Button>
            ))}
        </HStack>
      )}
    </Box>
  );
};
