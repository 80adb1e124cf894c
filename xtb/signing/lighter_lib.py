"""Locate and bind the Lighter native signer shipped inside the installed ``lighter-sdk`` wheel.

The wheel carries ``lighter/signers/lighter-signer-<os>-<arch>.<so|dylib|dll>`` with a cgo-generated C
header next to it. We never copy the binary: it is found at run time from the installed package (without
importing the SDK, which would pull in aiohttp, pydantic models and eth_account).

The ctypes signatures are built from the header that ships with the binary, not hard-coded, because the
Go struct and argument layouts drift between SDK versions (e.g. ``CreateOrderTxReq.MarketIndex`` is int64
in lighter-sdk 1.1.8 and int16 in lighter-go HEAD). Callers pass arguments by the header's parameter
names; if the header's parameter list differs from what the caller expects, binding fails loudly at load
time instead of silently shifting arguments.

This module does no threading of its own: the Go runtime must be entered only from a thread that is not
running an asyncio loop (see ``LighterSigner``), and ``NativeFunction.__call__`` enforces that.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import os
import platform
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_LIBRARY_PATH = "XTB_LIGHTER_SIGNER_LIB"
"""Optional override: absolute path of a signer binary (its ``.h`` must sit next to it)."""


class LighterLibraryError(RuntimeError):
    """The native signer library could not be found, loaded or bound."""


class LoopThreadCallError(RuntimeError):
    """A native signer call was attempted on a thread that runs an asyncio event loop."""


# --- locating -------------------------------------------------------------------------------------------

_OS_NAMES = {"Linux": ("linux", "so"), "Darwin": ("darwin", "dylib"), "Windows": ("windows", "dll")}
_ARCH_NAMES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True, slots=True)
class LibraryLocation:
    binary: Path
    header: Path


def library_file_name(system: str | None = None, machine: str | None = None) -> str:
    """File name of the signer binary for a platform (defaults to this machine)."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system not in _OS_NAMES or machine not in _ARCH_NAMES:
        raise LighterLibraryError(f"no Lighter signer binary for platform {system}/{machine}")
    os_name, ext = _OS_NAMES[system]
    return f"lighter-signer-{os_name}-{_ARCH_NAMES[machine]}.{ext}"


def _installed_signers_dir() -> Path:
    spec = importlib.util.find_spec("lighter")
    if spec is None or not spec.submodule_search_locations:
        raise LighterLibraryError("the 'lighter' package (lighter-sdk) is not installed")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "signers"
        if candidate.is_dir():
            return candidate
    raise LighterLibraryError("the installed 'lighter' package has no signers/ directory")


def locate_library(path: str | os.PathLike[str] | None = None) -> LibraryLocation:
    """Find the signer binary and its header.

    Order: the explicit ``path``, then ``$XTB_LIGHTER_SIGNER_LIB``, then the installed ``lighter`` package.
    """
    chosen = path if path is not None else os.environ.get(ENV_LIBRARY_PATH)
    binary = Path(chosen) if chosen else _installed_signers_dir() / library_file_name()
    if not binary.is_file():
        raise LighterLibraryError(f"Lighter signer binary not found: {binary}")
    header = binary.with_suffix(".h")
    if not header.is_file():
        raise LighterLibraryError(f"header for the Lighter signer binary not found: {header}")
    return LibraryLocation(binary=binary, header=header)


# --- header parsing -------------------------------------------------------------------------------------

# Scalar C types used by the cgo exports. Return-position char* is read as void* so that we can hand the
# pointer back to the library's own Free().
_SCALARS: dict[str, Any] = {
    "int": ctypes.c_int,
    "long long int": ctypes.c_longlong,
    "long long unsigned int": ctypes.c_ulonglong,
    "long long": ctypes.c_longlong,
    "unsigned int": ctypes.c_uint,
    "uint8_t": ctypes.c_uint8,
    "int8_t": ctypes.c_int8,
    "uint16_t": ctypes.c_uint16,
    "int16_t": ctypes.c_int16,
    "uint32_t": ctypes.c_uint32,
    "int32_t": ctypes.c_int32,
    "uint64_t": ctypes.c_uint64,
    "int64_t": ctypes.c_int64,
    "char*": ctypes.c_char_p,
    "void*": ctypes.c_void_p,
}

_STRUCT_RE = re.compile(r"typedef\s+struct\s*\{([^{}]*)\}\s*(\w+)\s*;", re.S)
_FIELD_RE = re.compile(r"^\s*([\w\s]+?\s*\**)\s*(\w+)\s*;\s*$")
_EXTERN_RE = re.compile(r"^extern\s+([\w\s*]+?)\s*\b(\w+)\s*\(([^)]*)\)\s*;", re.M)


def _norm_type(text: str) -> str:
    text = re.sub(r"\bconst\b", "", text)
    text = re.sub(r"\s*\*", "*", text)
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class HeaderDecl:
    name: str
    return_type: str
    params: tuple[tuple[str, str], ...]  # (normalized C type, parameter name)


@dataclass(frozen=True, slots=True)
class ParsedHeader:
    structs: dict[str, tuple[tuple[str, str], ...]]  # struct -> ((C type, field), ...)
    functions: dict[str, HeaderDecl]


def parse_header(text: str) -> ParsedHeader:
    """Parse the typedef structs and ``extern`` function declarations of a cgo export header."""
    structs: dict[str, tuple[tuple[str, str], ...]] = {}
    for body, name in _STRUCT_RE.findall(text):
        fields: list[tuple[str, str]] = []
        for line in body.split("\n"):
            line = line.split("//")[0].strip()
            if not line:
                continue
            match = _FIELD_RE.match(line)
            if match is None:
                fields = []
                break  # not a plain field list (cgo prologue structs): skip the struct
            fields.append((_norm_type(match.group(1)), match.group(2)))
        if fields:
            structs[name] = tuple(fields)
    functions: dict[str, HeaderDecl] = {}
    for ret, name, args in _EXTERN_RE.findall(text):
        params: list[tuple[str, str]] = []
        args = args.strip()
        if args and args != "void":
            for arg in args.split(","):
                match = re.match(r"^(.*?)(\w+)$", arg.strip())
                if match is None:
                    raise LighterLibraryError(f"cannot parse parameter {arg!r} of {name}")
                params.append((_norm_type(match.group(1)), match.group(2)))
        functions[name] = HeaderDecl(name=name, return_type=_norm_type(ret), params=tuple(params))
    return ParsedHeader(structs=structs, functions=functions)


# --- binding --------------------------------------------------------------------------------------------


class NativeFunction:
    """One exported function, called with keyword arguments named as in the header."""

    __slots__ = ("_fn", "name", "param_names")

    def __init__(self, fn: Any, name: str, param_names: tuple[str, ...]) -> None:
        self._fn = fn
        self.name = name
        self.param_names = param_names

    def __call__(self, **kwargs: Any) -> Any:
        # Entering the Go runtime from a loop thread stalls the loop for the whole call (and costs ~6x more
        # than from a plain thread), so it is refused outright.
        if _on_loop_thread():
            raise LoopThreadCallError(f"{self.name}: native Lighter calls must not run on a loop thread")
        return self._fn(*[kwargs[name] for name in self.param_names])


def _on_loop_thread() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class LighterLibrary:
    """The loaded signer library with ctypes signatures taken from its header."""

    def __init__(self, location: LibraryLocation) -> None:
        self.location = location
        self.header = parse_header(location.header.read_text(encoding="utf-8", errors="replace"))
        # The Go runtime sizes its scheduler from GOMAXPROCS when the library loads. One P is plenty for
        # signing (each signature is single-threaded) and leaves the other cores to the event loop: with
        # Go's default (all cores) its runtime threads compete with the loop thread on small machines.
        # An explicit GOMAXPROCS in the environment wins.
        os.environ.setdefault("GOMAXPROCS", "1")
        try:
            self._dll = ctypes.CDLL(str(location.binary))
        except OSError as exc:
            raise LighterLibraryError(f"cannot load {location.binary.name}: {exc}") from exc
        self._struct_types: dict[str, type[ctypes.Structure]] = {}
        self._functions: dict[str, NativeFunction] = {}
        # Free() takes microseconds: call it through a PyDLL handle (same dlopen handle) so that it keeps
        # the GIL. Every GIL release is a chance to wait a whole switch interval (5 ms) to get it back
        # when the loop thread is busy; a signature should cost one release, not four.
        free = ctypes.PyDLL(str(location.binary)).Free
        free.argtypes = [ctypes.c_void_p]
        free.restype = None
        self._free = free

    def struct_type(self, name: str, required_fields: Iterable[str] = ()) -> type[ctypes.Structure]:
        """ctypes Structure for a header struct; pointers to char are read as void* (freed by us)."""
        cached = self._struct_types.get(name)
        if cached is None:
            fields = self.header.structs.get(name)
            if fields is None:
                raise LighterLibraryError(f"header {self.location.header.name} declares no struct {name}")
            ctype_fields = [(field, self._ctype(ctype, name, for_struct=True)) for ctype, field in fields]
            cached = type(name, (ctypes.Structure,), {"_fields_": ctype_fields})
            self._struct_types[name] = cached
        missing = set(required_fields) - {field for field, _ in cached._fields_}  # type: ignore[misc]
        if missing:
            raise LighterLibraryError(f"struct {name} in this signer build lacks fields {sorted(missing)}")
        return cached

    def function(self, name: str, expected_params: Iterable[str]) -> NativeFunction:
        """Bind ``name``; ``expected_params`` must be exactly the header's parameter names (any order)."""
        decl = self.header.functions.get(name)
        if decl is None:
            raise LighterLibraryError(f"this Lighter signer build does not export {name}")
        names = tuple(p for _, p in decl.params)
        if set(names) != set(expected_params):
            raise LighterLibraryError(
                f"{name}: header parameters {sorted(names)} differ from the binding's "
                f"{sorted(expected_params)}"
            )
        bound = self._functions.get(name)
        if bound is not None:
            return bound
        fn = getattr(self._dll, name)
        fn.argtypes = [self._ctype(ctype, name) for ctype, _ in decl.params]
        fn.restype = self._ctype(decl.return_type, name, returned=True)
        bound = NativeFunction(fn, name, names)
        self._functions[name] = bound
        return bound

    def exports(self, name: str) -> bool:
        return name in self.header.functions

    def abi_mismatch(self, expected: Mapping[str, Any]) -> str | None:
        """Compare compiled-in C declarations with this binary's header; describe the first difference.

        ``expected`` is ``{"structs": {name: fields}, "functions": {name: (return type, params)}}`` with
        ``(C type, name)`` pairs, as ``xtb._core.lighter_native_abi()`` returns it. ``None`` means every
        listed struct and function is declared exactly so (types, names, order).
        """
        if not expected.get("functions"):
            return "no compiled declarations to compare"
        for name, fields in expected.get("structs", {}).items():
            found = self.header.structs.get(name)
            if found != tuple(tuple(f) for f in fields):
                return f"struct {name}: header has {found}, compiled for {tuple(fields)}"
        for name, (return_type, params) in expected.get("functions", {}).items():
            decl = self.header.functions.get(name)
            if decl is None:
                return f"{name}: not exported by this signer build"
            wanted = (return_type, tuple(tuple(p) for p in params))
            if (decl.return_type, decl.params) != wanted:
                return f"{name}: header declares {(decl.return_type, decl.params)}, compiled for {wanted}"
        return None

    def take_string(self, pointer: int | None) -> str | None:
        """Copy a library-allocated C string and release it with the library's own Free()."""
        if not pointer:
            return None
        try:
            raw = ctypes.string_at(pointer)
        finally:
            self._free(pointer)
        return raw.decode("utf-8", errors="replace")

    def _ctype(self, ctype: str, owner: str, *, returned: bool = False, for_struct: bool = False) -> Any:
        if ctype == "void" and returned:
            return None
        if ctype == "char*" and (returned or for_struct):
            return ctypes.c_void_p
        scalar = _SCALARS.get(ctype)
        if scalar is not None:
            return scalar
        if ctype.endswith("*") and ctype[:-1] in self.header.structs:
            return ctypes.POINTER(self.struct_type(ctype[:-1]))
        if ctype in self.header.structs:
            return self.struct_type(ctype)
        raise LighterLibraryError(f"{owner}: unsupported C type {ctype!r} in the signer header")


_loaded: dict[Path, LighterLibrary] = {}
_load_lock = threading.Lock()


def load_library(path: str | os.PathLike[str] | None = None) -> LighterLibrary:
    """Load (once per binary path) the signer library; see ``locate_library`` for the search order."""
    location = locate_library(path)
    key = location.binary.resolve()
    with _load_lock:
        library = _loaded.get(key)
        if library is None:
            library = LighterLibrary(location)
            _loaded[key] = library
        return library
