using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Vigil.Storage.Wal;

namespace Vigil.Storage.Tests.Wal;

/// <summary>
/// The compact WAL (decision 030): a group commit is one compressed block, it replays record by record,
/// damage to a block costs that block only, a torn block is cut like a torn record, a full disk during a
/// block write loses nothing acknowledged, and segments of the format before it still replay. Frames are
/// checked here by the format as documented, with an independent Zstandard decoder.
/// </summary>
public sealed class WalBlockTests
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);
    private static readonly byte[] BlockMagic = [0xE3, 0x57, 0x4C, 0x9A];
    private static readonly byte[] RecordMagic = [0xE2, 0x57, 0x4C, 0x9A];

    /// <summary>A request-like payload: the names repeat from request to request, the numbers do not.</summary>
    private static byte[] Request(int i)
    {
        var text = new StringBuilder();
        for (var point = 0; point < 40; point++)
        {
            text.Append($"metric=ai.runs tenant.id=tenant-{i % 7:D4} workspace.id=ws-{i:D4}-{point % 5} gen_ai.request.model=gpt-4o ai.run.status=succeeded value={(i * 977) + (point * 31)};");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static byte[] Prefix(int i) => [0xFA, 0xFF, 0xFF, 0xFF, 0x0F, 3, (byte)'t', (byte)'-', (byte)('0' + (i % 10))];

    private static WriteAheadLog Open(TempWalDirectory dir, IWalFiles? files = null, ListLogger? logger = null, TimeProvider? time = null) =>
        new(dir.Path, new WalOptions(), TimeSpan.FromHours(1), time ?? TimeProvider.System, (Microsoft.Extensions.Logging.ILogger?)logger ?? NullLogger.Instance, files);

    private static List<byte[]> ReplayAll(TempWalDirectory dir, ListLogger? logger, out WalReplayResult result)
    {
        var replayed = new List<byte[]>();
        result = Open(dir, logger: logger).Replay(r => replayed.Add(r.ToArray()));
        return replayed;
    }

    /// <summary>
    /// Writes one small record alone, then <paramref name="batched"/> requests (each with a binding prefix) queued
    /// while the writer is held in the first fsync, so they make one group commit. Returns the records as replay must
    /// give them back (prefix + payload), in order.
    /// </summary>
    private static async Task<List<byte[]>> WriteHeldBatchAsync(WriteAheadLog log, GatedWalFiles gate, int batched)
    {
        gate.HoldNextSync();
        var first = log.AppendAsync(new byte[] { 42, 42, 42 });
        await gate.Held.WaitAsync(Answer);
        var queued = Enumerable.Range(1, batched).Select(i => log.AppendAsync(Prefix(i), Request(i))).ToList();
        gate.Release();
        await first.WaitAsync(Answer);
        await Task.WhenAll(queued).WaitAsync(Answer);
        return [[42, 42, 42], .. Enumerable.Range(1, batched).Select(i => (byte[])[.. Prefix(i), .. Request(i)])];
    }

    [Fact]
    public async Task QueuedAppends_AreOneGroupCommit_WrittenAsOneCompressedBlock_AndReplayInOrder()
    {
        using var dir = new TempWalDirectory();
        var gate = new GatedWalFiles();
        var log = Open(dir, gate);
        log.Replay(_ => { });
        log.Start();
        var expected = await WriteHeldBatchAsync(log, gate, batched: 30);
        Assert.Equal(2, log.Syncs);
        Assert.Equal(31, log.AppendedRecords);
        await log.DisposeAsync();

        var frames = Frames(await File.ReadAllBytesAsync(Assert.Single(dir.Segments())));
        Assert.Equal(2, frames.Count);
        Assert.False(frames[0].Block);
        Assert.Equal(expected[0], frames[0].Payload);
        Assert.True(frames[1].Block);
        Assert.Equal(expected[1..], Unpack(frames[1].Payload));

        // The block costs far less than the 30 records as they were: the names they share are stored once.
        var raw = expected[1..].Sum(r => r.Length + 24);
        Assert.True(frames[1].Payload.Length * 5 < raw, $"block of {frames[1].Payload.Length} bytes for {raw} bytes of records");

        var logger = new ListLogger();
        Assert.Equal(expected, ReplayAll(dir, logger, out var result));
        Assert.Equal(31, result.Records);
        Assert.Empty(logger.Warnings);
    }

    /// <summary>A batch past the block size is several blocks, all written before the batch's one fsync; a request past it is a block alone.</summary>
    [Fact]
    public async Task BatchLargerThanABlock_IsSeveralBlocks_UnderOneSync()
    {
        using var dir = new TempWalDirectory();
        var gate = new GatedWalFiles();
        var log = Open(dir, gate);
        log.Replay(_ => { });
        log.Start();
        int[] sizes = [600_000, 600_000, 600_000, 5 << 20, 100_000];
        var large = sizes.Select((size, i) => Sized(i, size)).ToList();
        gate.HoldNextSync();
        var first = log.AppendAsync(new byte[] { 1 });
        await gate.Held.WaitAsync(Answer);
        var queued = large.Select(r => log.AppendAsync(r)).ToList();
        gate.Release();
        await first.WaitAsync(Answer);
        await Task.WhenAll(queued).WaitAsync(Answer);
        Assert.Equal(2, log.Syncs);
        await log.DisposeAsync();

        // 1.8 MB fits a 4 MiB block; the 5 MiB request would overflow it, so it starts its own; the next overflows that one.
        var frames = Frames(await File.ReadAllBytesAsync(Assert.Single(dir.Segments())));
        Assert.Equal([false, true, true, true], frames.Select(f => f.Block));
        Assert.Equal([3, 1, 1], frames.Skip(1).Select(f => Unpack(f.Payload).Count));
        Assert.Equal(large, frames.Skip(1).SelectMany(f => Unpack(f.Payload)));
        Assert.Equal([[1], .. large], ReplayAll(dir, null, out _));
    }

    private static byte[] Sized(int i, int size)
    {
        var bytes = new byte[size];
        var pattern = Request(i);
        for (var at = 0; at < size; at += pattern.Length)
        {
            pattern.AsSpan(0, Math.Min(pattern.Length, size - at)).CopyTo(bytes.AsSpan(at));
            if (size - at >= sizeof(int))
            {
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), at); // no two stretches alike
            }
        }

        return bytes;
    }

    [Fact]
    public async Task Version2Segment_StillReplays_BeforeTheNewBlocks_AndNewSegmentsAreVersion3()
    {
        using var dir = new TempWalDirectory();
        Directory.CreateDirectory(dir.Path);
        byte[][] old = [Request(1), [7, 7, 7], Request(2)];
        var segment = Version2Segment(old);
        var oldPath = Path.Combine(dir.Path, "000000000001.wal");
        await File.WriteAllBytesAsync(oldPath, segment);

        var gate = new GatedWalFiles();
        var log = Open(dir, gate);
        var replayed = new List<byte[]>();
        var result = log.Replay(r => replayed.Add(r.ToArray()));
        Assert.Equal(old, replayed);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000), result.Since);

        log.Start();
        var expected = await WriteHeldBatchAsync(log, gate, batched: 5);
        await log.DisposeAsync();

        var current = await File.ReadAllBytesAsync(dir.Segments()[1]);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(current.AsSpan(8)));
        Assert.Equal(segment, await File.ReadAllBytesAsync(oldPath));
        var logger = new ListLogger();
        Assert.Equal([.. old, .. expected], ReplayAll(dir, logger, out _));
        Assert.Empty(logger.Warnings);
    }

    [Fact]
    public async Task FlippedByteInABlock_OfAClosedSegment_SkipsThatBlockOnly_AndLeavesTheFileAlone()
    {
        using var dir = new TempWalDirectory();
        var gate = new GatedWalFiles();
        var log = Open(dir, gate);
        log.Replay(_ => { });
        log.Start();
        var expected = await WriteHeldBatchAsync(log, gate, batched: 10);
        await log.RotateAsync();
        await log.AppendAsync(new byte[] { 9, 9 });
        await log.DisposeAsync();

        var closed = dir.Segments()[0];
        var bytes = await File.ReadAllBytesAsync(closed);
        var block = Frames(bytes)[1];
        bytes[block.Offset + 24 + (block.Payload.Length / 2)] ^= 0x20;
        await File.WriteAllBytesAsync(closed, bytes);

        var logger = new ListLogger();
        var replayed = ReplayAll(dir, logger, out var result);

        Assert.Equal([expected[0], [9, 9]], replayed);
        Assert.Equal(1, result.DamagedRecords);
        Assert.Equal(24 + block.Payload.Length, result.DamagedBytes);
        Assert.Equal(0, result.TornTailBytes);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(closed));
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains($"offset {block.Offset}", warning);
        Assert.Contains("compressed block", warning);
    }

    [Fact]
    public async Task BlockTornByACrash_AtTheEndOfTheNewestSegment_IsCut_AndTheLogAppendsAfterIt()
    {
        using var dir = new TempWalDirectory();
        var gate = new GatedWalFiles();
        var log = Open(dir, gate);
        log.Replay(_ => { });
        log.Start();
        var expected = await WriteHeldBatchAsync(log, gate, batched: 10);
        await log.DisposeAsync();

        var segment = Assert.Single(dir.Segments());
        var bytes = await File.ReadAllBytesAsync(segment);
        var block = Frames(bytes)[1];
        var torn = block.Offset + 24 + (block.Payload.Length / 3);
        await File.WriteAllBytesAsync(segment, bytes[..torn]);

        var logger = new ListLogger();
        var reopened = Open(dir, logger: logger);
        var replayed = new List<byte[]>();
        var result = reopened.Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal([expected[0]], replayed);
        Assert.Equal(torn - block.Offset, result.TornTailBytes);
        Assert.Equal(0, result.DamagedRecords);
        Assert.Equal(block.Offset, new FileInfo(segment).Length);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains("torn block", warning);
        Assert.Contains($"offset {block.Offset}", warning);

        reopened.Start();
        await reopened.AppendAsync(Request(99));
        await reopened.DisposeAsync();
        var quiet = new ListLogger();
        Assert.Equal([expected[0], Request(99)], ReplayAll(dir, quiet, out _));
        Assert.Empty(quiet.Warnings);
    }

    /// <summary>Blocks whose checksums hold but which cannot be unpacked: each is skipped as damage, in bounded memory, and replay reads on.</summary>
    [Theory]
    [InlineData("codec", "unknown codec 9")]
    [InlineData("length", "over the 1073741824-byte limit")]
    [InlineData("data", "does not decompress")]
    [InlineData("framing", "malformed after its first 1 records")]
    public async Task UnpackableBlock_WithIntactChecksums_IsSkippedAsDamage(string what, string reported)
    {
        using var dir = new TempWalDirectory();
        Directory.CreateDirectory(dir.Path);
        var payload = what switch
        {
            "codec" => BlockPayload(9, 16, [1, 2, 3]),
            "length" => BlockPayload(1, (1 << 30) + 1, [1, 2, 3]),
            "data" => BlockPayload(1, 100, [.. Enumerable.Repeat((byte)0x55, 40)]),
            _ => ZstdBlockPayload([3, 1, 2, 3, 200, 1, 9]), // one record [1 2 3], then a length of 200 with 1 byte left
        };

        var file = new List<byte>(SegmentHeader(3));
        file.AddRange(Frame(BlockMagic, payload));
        file.AddRange(Frame(RecordMagic, Request(5)));
        var path = Path.Combine(dir.Path, "000000000001.wal");
        await File.WriteAllBytesAsync(path, [.. file]);

        var logger = new ListLogger();
        var replayed = ReplayAll(dir, logger, out var result);

        byte[][] expected = what == "framing" ? [[1, 2, 3], Request(5)] : [Request(5)];
        Assert.Equal(expected, replayed);
        Assert.Equal(1, result.DamagedRecords);
        Assert.Equal(24 + payload.Length, result.DamagedBytes);
        Assert.Equal(file.Count, new FileInfo(path).Length);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains(reported, warning);
        Assert.Contains("offset 16", warning);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DiskFullDuringABlockWrite_RefusesThatBatch_AndReplayHasExactlyWhatWasAcknowledged(bool cutFails)
    {
        using var dir = new TempWalDirectory();
        var disk = new FlakyWalFiles { FailTruncate = cutFails };
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = Open(dir, disk, time: time);
        log.Replay(_ => { });
        log.Start();
        await log.AppendAsync(Request(1)).WaitAsync(Answer);

        disk.Fill();
        await Assert.ThrowsAsync<WalUnavailableException>(() => log.AppendAsync(Request(2)).WaitAsync(Answer));
        var available = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        log.AvailabilityChanged += () =>
        {
            if (log.Unavailable is null)
            {
                available.TrySetResult();
            }
        };
        disk.Heal();
        time.Advance(new WalOptions().RetryInterval);
        await available.Task.WaitAsync(Answer);
        await log.AppendAsync(Request(3)).WaitAsync(Answer);
        await log.DisposeAsync().AsTask().WaitAsync(Answer);

        // The refused request was a block (it compresses), half of which reached the file before the error.
        var first = await File.ReadAllBytesAsync(dir.Segments()[0]);
        Assert.True(Frames(first)[0].Block);

        var logger = new ListLogger();
        Assert.Equal([Request(1), Request(3)], ReplayAll(dir, logger, out var result));
        if (cutFails)
        {
            // The half block stayed behind in the segment given up; found by its checksums, reported, not applied.
            Assert.Equal(1, result.DamagedRecords);
            Assert.Contains("torn block", Assert.Single(logger.Warnings));
        }
        else
        {
            Assert.Equal(0, result.DamagedRecords + result.TornTailBytes);
            Assert.Empty(logger.Warnings);
        }
    }

    private sealed record WalFrame(int Offset, bool Block, byte[] Payload);

    /// <summary>The frames of a version-3 segment, read by the documented layout (every checksum checked) up to a torn tail.</summary>
    private static List<WalFrame> Frames(byte[] segment)
    {
        Assert.Equal("VIGILWAL"u8.ToArray(), segment[..8]);
        var frames = new List<WalFrame>();
        var at = 16;
        while (at + 24 <= segment.Length)
        {
            var header = segment.AsSpan(at, 24);
            var block = header[..4].SequenceEqual(BlockMagic);
            Assert.True(block || header[..4].SequenceEqual(RecordMagic));
            Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(header[20..]), Crc32C.Compute(header[..20]));
            var length = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
            if (at + 24 + length > segment.Length)
            {
                break;
            }

            var payload = segment.AsSpan(at + 24, length).ToArray();
            Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(header[16..]), Crc32C.Compute(payload));
            frames.Add(new WalFrame(at, block, payload));
            at += 24 + length;
        }

        return frames;
    }

    /// <summary>A block payload's records: codec 1, the uncompressed length, then Zstandard data of varint-prefixed records.</summary>
    private static List<byte[]> Unpack(byte[] payload)
    {
        Assert.Equal(1, payload[0]);
        using var zstd = new ZstdSharp.Decompressor();
        var raw = zstd.Unwrap(payload.AsSpan(5)).ToArray();
        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(1)), raw.Length);
        var records = new List<byte[]>();
        var at = 0;
        while (at < raw.Length)
        {
            var length = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = raw[at++];
                length |= (b & 0x7F) << shift;
                if (b < 0x80)
                {
                    break;
                }
            }

            records.Add(raw[at..(at + length)]);
            at += length;
        }

        return records;
    }

    private static byte[] SegmentHeader(uint version)
    {
        var header = new byte[16];
        "VIGILWAL"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), version);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), Crc32C.Compute(header.AsSpan(0, 12)));
        return header;
    }

    private static byte[] Frame(byte[] magic, byte[] payload, long unixMs = 1_750_000_000_000)
    {
        var header = new byte[24];
        magic.CopyTo(header, 0);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), unixMs);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), Crc32C.Compute(header.AsSpan(0, 20)));
        return [.. header, .. payload];
    }

    /// <summary>A segment as the WAL wrote it before decision 030: version 2, one record frame per request.</summary>
    private static byte[] Version2Segment(byte[][] payloads)
    {
        var file = new List<byte>(SegmentHeader(2));
        foreach (var payload in payloads)
        {
            file.AddRange(Frame(RecordMagic, payload));
        }

        return [.. file];
    }

    private static byte[] BlockPayload(byte codec, int length, byte[] data)
    {
        var payload = new byte[5 + data.Length];
        payload[0] = codec;
        BinaryPrimitives.WriteInt32LittleEndian(payload.AsSpan(1), length);
        data.CopyTo(payload, 5);
        return payload;
    }

    private static byte[] ZstdBlockPayload(byte[] raw)
    {
        using var zstd = new ZstdSharp.Compressor(1);
        return BlockPayload(1, raw.Length, zstd.Wrap(raw).ToArray());
    }
}

/// <summary>Real segment files whose next fsync can be held until the test lets it go, to make a group commit of what queues meanwhile.</summary>
public sealed class GatedWalFiles : IWalFiles
{
    private readonly ManualResetEventSlim _open = new(true);
    private TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _holdNext;

    /// <summary>Completes when the writer is waiting in the held fsync.</summary>
    public Task Held => _held.Task;

    public void HoldNextSync()
    {
        _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _open.Reset();
        _holdNext = true;
    }

    public void Release() => _open.Set();

    public IWalFile Open(string path) => new File(this, PhysicalWalFiles.Instance.Open(path));

    private sealed class File(GatedWalFiles gate, IWalFile inner) : IWalFile
    {
        public long Length => inner.Length;

        public void Write(ReadOnlySpan<byte> bytes, long offset) => inner.Write(bytes, offset);

        public void FlushToDisk()
        {
            inner.FlushToDisk();
            if (gate._holdNext)
            {
                gate._holdNext = false;
                gate._held.TrySetResult();
                gate._open.Wait(TimeSpan.FromSeconds(30));
            }
        }

        public void SetLength(long length) => inner.SetLength(length);

        public void Dispose() => inner.Dispose();
    }
}
