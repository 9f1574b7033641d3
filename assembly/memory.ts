// First byte after the module's static data: the SDK's allocator starts here.
export function heapBase(): usize {
  return __heap_base;
}
