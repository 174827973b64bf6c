namespace Vigil.Storage.Checkpoint;

/// <summary>A checkpoint that cannot be loaded; the store it was loaded into is left unchanged.</summary>
public abstract class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The file is damaged: wrong magic, truncated, checksum mismatch or an impossible value.</summary>
public sealed class CheckpointCorruptException(string message, Exception? inner = null) : CheckpointException(message, inner);

/// <summary>An intact checkpoint this store cannot take: another format version or another bucket resolution.</summary>
public sealed class CheckpointMismatchException(string message) : CheckpointException(message);
