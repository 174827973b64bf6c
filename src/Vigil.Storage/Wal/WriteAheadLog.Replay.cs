using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Vigil.Storage.Wal;

/// <summary>What a replay read, and what it had to leave out (each is logged with segment and offset as well).</summary>
/// <param name="Records">Intact records applied (each record of a block counts).</param>
/// <param name="Since">Time of the oldest intact record.</param>
/// <param name="DamagedRecords">Damaged regions skipped: each is one record, one compressed block (the records of a group commit), or more when the damage hid the headers.</param>
/// <param name="DamagedBytes">Bytes in those regions.</param>
/// <param name="TornTailBytes">Bytes cut from the end of the newest segment (a crash during a write).</param>
/// <param name="UnappliedRecords">Intact records whose apply threw; skipped.</param>
/// <param name="UnreadableSegments">Segments that could not be opened or are of an unknown format version; left as they are.</param>
public sealed record WalReplayResult(long Records, DateTimeOffset? Since, long DamagedRecords, long DamagedBytes, long TornTailBytes, long UnappliedRecords, int UnreadableSegments)
{
    /// <summary>Records left out: damaged, unappliable, or in unreadable segments (those counted once each).</summary>
    public long SkippedRecords => DamagedRecords + UnappliedRecords + UnreadableSegments;
}

public sealed partial class WriteAheadLog
{
    /// <summary>
    /// Reads every intact record, oldest first, and hands it to <paramref name="apply"/>. Damage costs only
    /// the damaged bytes: a record whose checksum fails is skipped and the records after it are read (in a
    /// version-2 segment even when the length field is hit: replay scans on for the next record header that
    /// validates). A closed segment is never changed on disk; only a torn tail of the newest segment (a crash
    /// mid-write) is cut, so the log appends after intact data. A record whose apply throws is skipped too.
    /// Every skip is logged as a warning naming the segment, the offset and how many bytes and records.
    /// Segments below <paramref name="fromSegment"/> are skipped: a checkpoint already holds them.
    /// </summary>
    public WalReplayResult Replay(Action<ReadOnlySpan<byte>> apply, long fromSegment = 0)
    {
        Directory.CreateDirectory(_directory);
        TryDeleteExpired();
        using var replay = new ReplayRun(this, apply);

        // New segments are numbered after the checkpoint's even if its segments are gone.
        _segmentNumber = Math.Max(_segmentNumber, fromSegment - 1);
        var segments = Segments().ToList();
        foreach (var (number, path) in segments)
        {
            _segmentNumber = Math.Max(_segmentNumber, number);
            if (number < fromSegment)
            {
                continue;
            }

            replay.Segment(path, newest: number == segments[^1].Number);
        }

        return replay.Result();
    }

    /// <summary>One replay: the buffers it reuses and what it counted.</summary>
    private sealed class ReplayRun(WriteAheadLog log, Action<ReadOnlySpan<byte>> apply) : IDisposable
    {
        private const int ScanChunk = 1 << 16;

        private readonly byte[] _header = new byte[WalFormat.RecordHeaderBytes];
        private readonly byte[] _scan = new byte[ScanChunk];
        private readonly WalBlockReader _blocks = new();
        private byte[] _payload = new byte[4096];
        private SafeFileHandle _file = null!;
        private long _length;
        private string _name = string.Empty;
        private (long Offset, long End, string Problem, string Lost)? _tail;
        private long _records;
        private DateTimeOffset? _since;
        private long _damagedRecords;
        private long _damagedBytes;
        private long _tornTailBytes;
        private long _unapplied;
        private int _unreadable;

        public void Dispose() => _blocks.Dispose();

        public WalReplayResult Result() => new(_records, _since, _damagedRecords, _damagedBytes, _tornTailBytes, _unapplied, _unreadable);

        public void Segment(string path, bool newest)
        {
            _name = Path.GetFileName(path);
            _tail = null;
            bool knownFormat;
            try
            {
                using (_file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
                {
                    _length = RandomAccess.GetLength(_file);
                    knownFormat = ReadSegment();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _unreadable++;
                log._logger.LogError("WAL segment {Segment} cannot be read ({Problem}); it is left as it is and its records are not replayed", _name, e.Message);
                return;
            }

            if (_tail is not { } tail)
            {
                return;
            }

            // Damage that runs to the end of the segment being written at a crash is that write, torn.
            // Only there is cutting safe: nothing was ever appended after it. Any other damage stays on disk.
            if (newest && knownFormat)
            {
                Cut(path, tail.Offset, tail.End, tail.Problem, tail.Lost);
            }
            else
            {
                Damaged(tail.Offset, tail.End, tail.Problem, tail.Lost);
            }
        }

        /// <summary>Reads the open segment; false when its format could not be told (then nothing is cut).</summary>
        private bool ReadSegment()
        {
            if (_length == 0)
            {
                return true;
            }

            Span<byte> head = stackalloc byte[WalFormat.SegmentHeaderBytes];
            var read = Read(head, 0);
            var magic = WalFormat.SegmentMagic;
            if (read >= magic.Length && head[..magic.Length].SequenceEqual(magic))
            {
                if (read < WalFormat.SegmentHeaderBytes)
                {
                    Region(0, _length, "torn segment header", lost: SomeRecords);
                    return true;
                }

                var (version, intact) = WalFormat.ReadSegmentHeader(head);
                if (intact && (version < WalFormat.OldestHeaderVersion || version > WalFormat.Version))
                {
                    _unreadable++;
                    log._logger.LogError("WAL segment {Segment} has format version {Version}, which this Vigil cannot read (a newer Vigil wrote it?); it is left as it is and its {Bytes} bytes are not replayed", _name, version, _length);
                    return false;
                }

                if (!intact)
                {
                    log._logger.LogWarning("WAL segment {Segment}: its header is damaged; reading it as format version {Version} by its record checksums", _name, WalFormat.Version);
                }

                ReadRecords(WalFormat.SegmentHeaderBytes);
                return true;
            }

            if (read < magic.Length && head[..read].SequenceEqual(magic[..read]))
            {
                Region(0, _length, "torn segment header", lost: SomeRecords);
                return true;
            }

            if (LegacyRecordAt(0))
            {
                ReadLegacyRecords();
                return true;
            }

            // Neither header is intact: look for version-2/3 frames wherever they are; keep everything on disk.
            ReadRecords(0);
            return false;
        }

        private void ReadRecords(long position)
        {
            while (position < _length)
            {
                if (_length - position < WalFormat.RecordHeaderBytes)
                {
                    Region(position, _length, "torn record header", lost: OneRecord);
                    return;
                }

                Read(_header, position);
                if (!WalFormat.TryReadFrameHeader(_header, out var block, out var length, out var unixMs, out var crc))
                {
                    var next = NextRecordHeader(position + 1);
                    Region(position, next, "record header damaged (magic or header checksum)", lost: SomeRecords);
                    position = next;
                    continue;
                }

                var end = position + WalFormat.RecordHeaderBytes + length;
                var kind = block ? "block" : "record";
                if (end > _length)
                {
                    Region(position, _length, $"torn {kind}: its {length}-byte payload runs past the end of the file", block ? OneBlock : OneRecord);
                    return;
                }

                var payload = Payload(position + WalFormat.RecordHeaderBytes, length);
                if (Crc32C.Compute(payload) != crc)
                {
                    Region(position, end, block ? "payload checksum mismatch in a compressed block" : "payload checksum mismatch", block ? OneBlock : OneRecord);
                }
                else if (block)
                {
                    ApplyBlock(payload, unixMs, position, end);
                }
                else
                {
                    Apply(payload, unixMs, position);
                }

                position = end;
            }
        }

        /// <summary>
        /// Version 1 has no record marker: after a bad checksum it trusts the length only when an intact
        /// record (or the end of the file) follows it; otherwise the rest of the segment is unreadable.
        /// </summary>
        private void ReadLegacyRecords()
        {
            long position = 0;
            while (position < _length)
            {
                if (_length - position < WalFormat.LegacyHeaderBytes)
                {
                    Region(position, _length, "torn record header", lost: OneRecord);
                    return;
                }

                Read(_header.AsSpan(0, WalFormat.LegacyHeaderBytes), position);
                var (length, crc, unixMs) = WalFormat.ReadLegacyHeader(_header);
                if (length < 0 || length > _length - position - WalFormat.LegacyHeaderBytes)
                {
                    Region(position, _length, $"record length {length} runs past the end of the file (a torn write, or a damaged length: a version-1 segment has no marker to find the next record by)", lost: SomeRecords);
                    return;
                }

                var end = position + WalFormat.LegacyHeaderBytes + length;
                var payload = Payload(position + WalFormat.LegacyHeaderBytes, length);
                if (WalFormat.LegacyChecksum(_header, payload) == crc)
                {
                    Apply(payload, unixMs, position);
                    position = end;
                    continue;
                }

                if (end == _length || LegacyRecordAt(end))
                {
                    Region(position, end, "checksum mismatch", lost: OneRecord);
                    position = end;
                    continue;
                }

                Region(position, _length, "checksum mismatch, and no intact record follows where its length says it ends (the length may be damaged: a version-1 segment has no marker to find the next record by)", lost: SomeRecords);
                return;
            }
        }

        private bool LegacyRecordAt(long position)
        {
            Span<byte> header = stackalloc byte[WalFormat.LegacyHeaderBytes];
            if (_length - position < WalFormat.LegacyHeaderBytes || Read(header, position) < header.Length)
            {
                return false;
            }

            var (length, crc, _) = WalFormat.ReadLegacyHeader(header);
            return length >= 0 && length <= _length - position - WalFormat.LegacyHeaderBytes
                && WalFormat.LegacyChecksum(header, Payload(position + WalFormat.LegacyHeaderBytes, length)) == crc;
        }

        /// <summary>The offset of the next intact frame header (either kind) at or after <paramref name="from"/>, or the end of the file.</summary>
        private long NextRecordHeader(long from)
        {
            Span<byte> candidate = stackalloc byte[WalFormat.RecordHeaderBytes];
            var tail = WalFormat.MagicTail;
            for (var chunk = from; chunk + WalFormat.RecordHeaderBytes <= _length;)
            {
                var read = Read(_scan.AsSpan(0, (int)Math.Min(_scan.Length, _length - chunk)), chunk);
                var searched = 0;
                while (true)
                {
                    var hit = _scan.AsSpan(searched, read - searched).IndexOf(tail);
                    if (hit < 0)
                    {
                        break;
                    }

                    // Both magics end with the same three bytes; the header starts one byte before them.
                    var at = chunk + searched + hit - 1;
                    if (at >= from && at + WalFormat.RecordHeaderBytes <= _length && Read(candidate, at) == candidate.Length
                        && WalFormat.TryReadFrameHeader(candidate, out _, out _, out _, out _))
                    {
                        return at;
                    }

                    searched += hit + 1;
                }

                if (chunk + read >= _length)
                {
                    break;
                }

                // Overlap the chunks by a magic's tail, so one split across them is found in the next.
                chunk += read - tail.Length;
            }

            return _length;
        }

        /// <summary>
        /// A compressed block whose checksum holds: every record in it is applied in order. A block that cannot be
        /// unpacked (an unknown codec, a bad length) is damage: none of its records are applied, the file is left alone.
        /// </summary>
        private void ApplyBlock(ReadOnlySpan<byte> payload, long unixMs, long offset, long end)
        {
            var problem = _blocks.TryUnpack(payload, out var records);
            if (problem is not null)
            {
                Damaged(offset, end, problem, OneBlock);
                return;
            }

            for (var index = 0; records.Length > 0; index++)
            {
                if (!Varint.TryRead(records, out var length, out var prefix) || length > records.Length - prefix)
                {
                    Damaged(offset, end, $"compressed block malformed after its first {index} records", "the rest of 1 block");
                    return;
                }

                Apply(records.Slice(prefix, (int)length), unixMs, offset);
                records = records[(prefix + (int)length)..];
            }
        }

        private void Apply(ReadOnlySpan<byte> payload, long unixMs, long offset)
        {
            _since ??= DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
            try
            {
                apply(payload);
                _records++;
            }
            catch (Exception e)
            {
                // An intact record that cannot be applied is damage of another kind: skip it, never refuse to start.
                _unapplied++;
                log._logger.LogWarning(
                    "WAL segment {Segment}: the record at offset {Offset} (or in the block there; {Bytes} bytes) could not be applied ({Error}: {Problem}); skipped, replay goes on",
                    _name, offset, payload.Length, e.GetType().Name, e.Message);
            }
        }

        /// <summary>A damaged region: reported at once, unless it reaches the end (then the caller decides whether it is a torn tail).</summary>
        private void Region(long offset, long end, string problem, string lost)
        {
            if (end == _length)
            {
                _tail = (offset, end, problem, lost);
                return;
            }

            Damaged(offset, end, problem, lost);
        }

        private void Damaged(long offset, long end, string problem, string lost)
        {
            _damagedRecords++;
            _damagedBytes += end - offset;
            log._logger.LogWarning(
                "WAL segment {Segment}: {Bytes} bytes at offset {Offset} are damaged ({Problem}); skipped {Lost} there and read on. The file is left as it is; the data in those bytes is lost",
                _name, end - offset, offset, problem, lost);
        }

        private void Cut(string path, long offset, long end, string problem, string lost)
        {
            try
            {
                using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.Read);
                RandomAccess.SetLength(file, offset);
                RandomAccess.FlushToDisk(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not cut: the writer starts a new segment anyway, so the next replay reports this as damage instead.
                log._logger.LogWarning("WAL segment {Segment}: could not cut its torn tail at offset {Offset} ({Problem})", _name, offset, e.Message);
            }

            _tornTailBytes += end - offset;
            log._logger.LogWarning(
                "WAL segment {Segment}: torn tail of {Bytes} bytes at offset {Offset} ({Problem}), {Lost}, cut off. This was the newest segment; a crash during a write leaves this, and a request is acknowledged only once its record is on disk",
                _name, end - offset, offset, problem, lost);
        }

        private const string OneRecord = "1 record";
        private const string SomeRecords = "1 or more records (their headers are damaged, so how many is unknown)";
        private const string OneBlock = "1 compressed block (the records of one group commit; how many is unknown)";

        private ReadOnlySpan<byte> Payload(long offset, int length)
        {
            if (_payload.Length < length)
            {
                _payload = new byte[Math.Max(length, _payload.Length * 2)];
            }

            var read = Read(_payload.AsSpan(0, length), offset);
            return _payload.AsSpan(0, read);
        }

        private int Read(Span<byte> buffer, long offset)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var read = RandomAccess.Read(_file, buffer[total..], offset + total);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            return total;
        }
    }
}
