using Microsoft.Extensions.Logging.Abstractions;
using Vigil.Storage.Wal;

namespace Vigil.Storage.Tests.Wal;

/// <summary>
/// Damage on disk costs exactly the damaged record: replay skips it and keeps every record after it,
/// never shortens a closed segment, and says what was lost.
/// </summary>
public sealed class WalDamageTests
{
    private const int Records = 8;

    private static WriteAheadLog Open(TempWalDirectory dir, ListLogger? logger = null) =>
        new(dir.Path, new WalOptions(), TimeSpan.FromHours(1), TimeProvider.System, (Microsoft.Extensions.Logging.ILogger?)logger ?? NullLogger.Instance);

    private static byte[] Payload(int i) => [.. Enumerable.Range(0, 20 + (3 * i)).Select(b => (byte)(i * 31 + b))];

    /// <summary>
    /// Writes <see cref="Records"/> records into segment 1, then rotates and writes one more into segment 2,
    /// so segment 1 is closed. Returns where each record of segment 1 ends (its file length once acknowledged;
    /// index 0 is unused).
    /// </summary>
    private static async Task<long[]> WriteClosedSegmentAsync(TempWalDirectory dir, bool rotate = true)
    {
        var log = Open(dir);
        log.Replay(_ => { });
        log.Start();
        var ends = new long[Records + 1];
        for (var i = 1; i <= Records; i++)
        {
            await log.AppendAsync(Payload(i));
            ends[i] = new FileInfo(dir.Segments()[0]).Length;
        }

        if (rotate)
        {
            await log.RotateAsync();
            await log.AppendAsync(Payload(100));
        }

        await log.DisposeAsync();
        return ends;
    }

    private static void Flip(string path, long offset)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[offset] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
    }

    private static List<byte[]> Expected(int skipped, bool rotated = true)
    {
        var expected = Enumerable.Range(1, Records).Where(i => i != skipped).Select(Payload).ToList();
        if (rotated)
        {
            expected.Add(Payload(100));
        }

        return expected;
    }

    [Theory]
    [InlineData("payload")]
    [InlineData("length")]
    public async Task FlippedByte_InAClosedSegment_SkipsOnlyThatRecord_AndLeavesTheFileAlone(string where)
    {
        using var dir = new TempWalDirectory();
        var ends = await WriteClosedSegmentAsync(dir);
        const int Damaged = 4;
        var closed = dir.Segments()[0];
        var size = new FileInfo(closed).Length;
        Flip(closed, where == "payload" ? ends[Damaged] - 1 : ends[Damaged - 1] + WalFormat.LengthOffset);

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = Open(dir, logger).Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal(Expected(Damaged), replayed);
        Assert.Equal(Records, result.Records);
        Assert.Equal(1, result.DamagedRecords);
        Assert.Equal(ends[Damaged] - ends[Damaged - 1], result.DamagedBytes);
        Assert.Equal(0, result.TornTailBytes);
        Assert.Equal(size, new FileInfo(closed).Length);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains(Path.GetFileName(closed), warning);
        Assert.Contains($"offset {ends[Damaged - 1]}", warning);
        Assert.Contains($"{ends[Damaged] - ends[Damaged - 1]} bytes", warning);
    }

    [Fact]
    public async Task DamageInTheMiddleOfTheNewestSegment_IsSkipped_NotCut()
    {
        using var dir = new TempWalDirectory();
        var ends = await WriteClosedSegmentAsync(dir, rotate: false);
        const int Damaged = 2;
        var newest = Assert.Single(dir.Segments());
        var size = new FileInfo(newest).Length;
        Flip(newest, ends[Damaged] - 1);

        var replayed = new List<byte[]>();
        var logger = new ListLogger();
        Open(dir, logger).Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal(Expected(Damaged, rotated: false), replayed);
        Assert.Equal(size, new FileInfo(newest).Length);
        Assert.Contains($"offset {ends[Damaged - 1]}", Assert.Single(logger.Warnings));
    }

    [Fact]
    public async Task RecordWhoseApplyThrows_IsSkippedAndReported_AndReplayContinues()
    {
        using var dir = new TempWalDirectory();
        var ends = await WriteClosedSegmentAsync(dir);
        const int Poisoned = 3;

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = Open(dir, logger).Replay(r =>
        {
            if (r.SequenceEqual(Payload(Poisoned)))
            {
                throw new InvalidOperationException("apply blew up");
            }

            replayed.Add(r.ToArray());
        });

        Assert.Equal(Expected(Poisoned), replayed);
        Assert.Equal(1, result.UnappliedRecords);
        Assert.Equal(0, result.DamagedRecords);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains(Path.GetFileName(dir.Segments()[0]), warning);
        Assert.Contains($"offset {ends[Poisoned - 1]}", warning);
        Assert.Contains("apply blew up", warning);
    }

    [Fact]
    public async Task LengthDamage_BeforeALargeRecord_ResyncsAcrossScanChunks()
    {
        using var dir = new TempWalDirectory();
        var log = Open(dir);
        log.Replay(_ => { });
        log.Start();
        byte[][] payloads = [Payload(1), [.. Enumerable.Range(0, 200_000).Select(i => (byte)(i % 251))], Payload(3), [.. Enumerable.Range(0, 150_000).Select(i => (byte)(i % 13))], Payload(5)];
        var starts = new List<long>();
        foreach (var payload in payloads)
        {
            starts.Add(dir.Segments().Length == 0 ? WalFormat.SegmentHeaderBytes : new FileInfo(dir.Segments()[0]).Length);
            await log.AppendAsync(payload);
        }

        await log.RotateAsync();
        await log.DisposeAsync();
        var closed = dir.Segments()[0];

        // Record 2's length is hit: the next intact header is 200 kB further on, several scan chunks away.
        Flip(closed, starts[1] + WalFormat.LengthOffset + 1);
        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = Open(dir, logger).Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal([payloads[0], payloads[2], payloads[3], payloads[4]], replayed);
        Assert.Equal(starts[2] - starts[1], result.DamagedBytes);
        Assert.Contains($"offset {starts[1]}", Assert.Single(logger.Warnings));
    }

    [Fact]
    public async Task TornTailOfTheNewestSegment_IsCutWithAWarning_AndTheLogAppendsAfterIt()
    {
        using var dir = new TempWalDirectory();
        var log = Open(dir);
        log.Replay(_ => { });
        log.Start();
        await log.AppendAsync(new byte[] { 1, 2, 3 });
        await log.AppendAsync(new byte[] { 4, 5 });
        await log.DisposeAsync();

        var segment = Assert.Single(dir.Segments());
        var intactLength = new FileInfo(segment).Length;
        await File.AppendAllBytesAsync(segment, [200, 0, 0, 0, 9, 9, 9]); // a record header cut short by a crash

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var reopened = Open(dir, logger);
        var result = reopened.Replay(record => replayed.Add(record.ToArray()));

        Assert.Equal(2, result.Records);
        Assert.NotNull(result.Since);
        Assert.Equal([[1, 2, 3], [4, 5]], replayed);
        Assert.Equal(intactLength, new FileInfo(segment).Length);
        Assert.Equal(7, result.TornTailBytes);
        Assert.Equal(0, result.DamagedRecords);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains("torn record header", warning);
        Assert.Contains($"offset {intactLength}", warning);

        // The log appends after the cut (in a new segment) and the next replay reads all three, with no warning.
        reopened.Start();
        await reopened.AppendAsync(new byte[] { 6 });
        await reopened.DisposeAsync();
        var again = new List<byte[]>();
        var quiet = new ListLogger();
        Open(dir, quiet).Replay(r => again.Add(r.ToArray()));
        Assert.Equal([[1, 2, 3], [4, 5], [6]], again);
        Assert.Empty(quiet.Warnings);
    }

    [Fact]
    public async Task DamagedLastRecordOfTheNewestSegment_IsCutAsATornWrite()
    {
        using var dir = new TempWalDirectory();
        var log = Open(dir);
        log.Replay(_ => { });
        log.Start();
        await log.AppendAsync(new byte[] { 1, 1, 1, 1 });
        await log.AppendAsync(new byte[] { 2, 2, 2, 2 });
        await log.DisposeAsync();
        var segment = Assert.Single(dir.Segments());
        var bytes = await File.ReadAllBytesAsync(segment);
        bytes[^1] ^= 0xFF; // a payload byte of the last record, as a write torn by a crash leaves it
        await File.WriteAllBytesAsync(segment, bytes);

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = Open(dir, logger).Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal([[1, 1, 1, 1]], replayed);
        var recordBytes = WalFormat.RecordHeaderBytes + 4;
        Assert.Equal(bytes.Length - recordBytes, new FileInfo(segment).Length);
        Assert.Equal(recordBytes, result.TornTailBytes);
        Assert.Contains("payload checksum mismatch", Assert.Single(logger.Warnings));
    }

    [Fact]
    public async Task SegmentOfAnUnknownFormatVersion_IsLeftAlone_AndReplayGoesOn()
    {
        using var dir = new TempWalDirectory();
        await WriteClosedSegmentAsync(dir);
        var closed = dir.Segments()[0];
        var bytes = await File.ReadAllBytesAsync(closed);
        bytes[8] = 9; // version 9, with a header checksum that holds: a newer Vigil wrote it
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), Crc32C.Compute(bytes.AsSpan(0, 12)));
        await File.WriteAllBytesAsync(closed, bytes);

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = Open(dir, logger).Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal([Payload(100)], replayed);
        Assert.Equal(1, result.UnreadableSegments);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(closed));
        Assert.Contains(logger.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Error && e.Message.Contains("version 9", StringComparison.Ordinal));
    }

    /// <summary>A segment in the format before decision 005, encoded here independently of the WAL's code.</summary>
    private static (byte[] File, long[] Starts) LegacySegment(params byte[][] payloads)
    {
        var file = new List<byte>();
        var starts = new List<long>();
        foreach (var payload in payloads)
        {
            starts.Add(file.Count);
            var header = new byte[16];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header, payload.Length);
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), 1_700_000_000_000 + starts.Count);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), Crc32C.Compute([.. header.AsSpan(8, 8), .. payload]));
            file.AddRange(header);
            file.AddRange(payload);
        }

        return ([.. file], [.. starts]);
    }

    [Fact]
    public async Task LegacySegment_StillReplays_AndNewRecordsGoToAVersion2Segment()
    {
        using var dir = new TempWalDirectory();
        Directory.CreateDirectory(dir.Path);
        var (legacy, _) = LegacySegment(Payload(1), Payload(2), Payload(3));
        var legacyPath = Path.Combine(dir.Path, "000000000001.wal");
        await File.WriteAllBytesAsync(legacyPath, legacy);

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var log = Open(dir, logger);
        var result = log.Replay(r => replayed.Add(r.ToArray()));
        Assert.Equal([Payload(1), Payload(2), Payload(3)], replayed);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_001), result.Since);
        Assert.Empty(logger.Warnings);

        log.Start();
        await log.AppendAsync(Payload(4));
        await log.DisposeAsync();
        var current = dir.Segments()[1];
        Assert.Equal("VIGILWAL"u8.ToArray(), (await File.ReadAllBytesAsync(current))[..8]);
        Assert.Equal(legacy, await File.ReadAllBytesAsync(legacyPath));

        var again = new List<byte[]>();
        Open(dir).Replay(r => again.Add(r.ToArray()));
        Assert.Equal([Payload(1), Payload(2), Payload(3), Payload(4)], again);
    }

    [Fact]
    public async Task LegacySegment_FlippedPayloadByte_SkipsOnlyThatRecord()
    {
        using var dir = new TempWalDirectory();
        Directory.CreateDirectory(dir.Path);
        var (legacy, starts) = LegacySegment(Payload(1), Payload(2), Payload(3), Payload(4));
        legacy[starts[2] - 1] ^= 0x01; // the last payload byte of record 2
        var path = Path.Combine(dir.Path, "000000000001.wal");
        await File.WriteAllBytesAsync(path, legacy);
        await File.WriteAllBytesAsync(Path.Combine(dir.Path, "000000000002.wal"), LegacySegment(Payload(5)).File);

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = Open(dir, logger).Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal([Payload(1), Payload(3), Payload(4), Payload(5)], replayed);
        Assert.Equal(starts[2] - starts[1], result.DamagedBytes);
        Assert.Equal(legacy.Length, new FileInfo(path).Length);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains($"{starts[2] - starts[1]} bytes at offset {starts[1]}", warning);
    }

    /// <summary>
    /// The documented limit of the old format: it has no record marker, so after a damaged length the
    /// records behind it cannot be found. They are reported, and left on disk, never cut.
    /// </summary>
    [Fact]
    public async Task LegacySegment_FlippedLengthByte_LeavesTheFileAndReportsTheRestAsLost()
    {
        using var dir = new TempWalDirectory();
        Directory.CreateDirectory(dir.Path);
        var (legacy, starts) = LegacySegment(Payload(1), Payload(2), Payload(3));
        legacy[starts[1]] ^= 0x04;
        var path = Path.Combine(dir.Path, "000000000001.wal");
        await File.WriteAllBytesAsync(path, legacy);
        await File.WriteAllBytesAsync(Path.Combine(dir.Path, "000000000002.wal"), LegacySegment(Payload(5)).File);

        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = Open(dir, logger).Replay(r => replayed.Add(r.ToArray()));

        Assert.Equal([Payload(1), Payload(5)], replayed);
        Assert.Equal(legacy.Length - starts[1], result.DamagedBytes);
        Assert.Equal(legacy, await File.ReadAllBytesAsync(path));
        Assert.Contains($"{legacy.Length - starts[1]} bytes at offset {starts[1]}", Assert.Single(logger.Warnings));
    }
}
