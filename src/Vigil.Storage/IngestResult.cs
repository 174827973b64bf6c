namespace Vigil.Storage;

/// <summary>What one OTLP request did: points accepted, points refused and why (for partial_success).</summary>
public readonly record struct IngestResult(int Accepted, int Rejected, string? ErrorMessage);
