import { CloseButton, Dialog, Portal } from "@chakra-ui/react";

// A Chakra dialog that is open while mounted; closing asks the parent to unmount it.
export const Modal = ({ title, onClose, children, footer, size = "lg", testId, bodyProps, contentProps, ...rest }) => (
  <Dialog.Root
    lazyMount
    onOpenChange={(event) => {
      if (!event.open) onClose();
    }}
    open
    scrollBehavior="inside"
    size={size}
    {...rest}
  >
    <Portal>
      <Dialog.Backdrop />
      <Dialog.Positioner>
        <Dialog.Content data-testid={testId} {...contentProps}>
          <Dialog.Header>
            <Dialog.Title>{title}</Dialog.Title>
          </Dialog.Header>
          <Dialog.Body {...bodyProps}>{children}</Dialog.Body>
          {footer && <Dialog.Footer>{footer}</Dialog.Footer>}
          <Dialog.CloseTrigger asChild>
            <CloseButton aria-label="Close" size="sm" />
          </Dialog.CloseTrigger>
        </Dialog.Content>
      </Dialog.Positioner>
    </Portal>
  </Dialog.Root>
);
