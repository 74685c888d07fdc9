-- Demo clinic: an IDENT-shaped MIS database in SQLite.
--
-- Table and column names follow what integrators' public code reads from IDENT
-- (see shared/reference/mis-databases.md), so a connector profile written against this
-- database reads a real IDENT install with the same SQL, modulo dialect.
--
-- Conventions, emulating what SQL Server would hold:
--   * datetimes are naive clinic-local time as 'YYYY-MM-DD HH:MM:SS' text (SQL Server
--     `datetime`); dates-only columns (PaymentsIn.DatePayment) are 'YYYY-MM-DD';
--   * Persons.Birthday is 'dd.mm.yyyy' text, as integrators have seen it in IDENT;
--   * money is NUMERIC: SQLite hands back int or float, so read it as Decimal(str(value));
--   * RowVersion emulates SQL Server `rowversion`: one database-wide counter
--     (RowVersionCounter) bumped by triggers on every insert and update of a table that
--     has the column, so any writer (the demo API, the simulator, a sqlite3 shell) moves
--     it. It is read-only, as in SQL Server: explicit values are refused.
--   * "set" flags on Receptions (PatientAppeared, ReceptionStarted, ReceptionEnded,
--     CheckIssued, ReceptionCanceled) are nullable datetimes; NULL means "not set".
--
-- Assumptions where IDENT's schema is not publicly known (verify on a real install):
--   * Persons.Sex: 1 male, 2 female (ISO/IEC 5218 codes);
--   * Patients.Status: 0 active, 1 archived;
--   * Families: IDENT has a documented family feature but its table was not found in
--     public code; this table and Patients.ID_Families are this demo's guess;
--   * Patients.ID_Persons is the patient key everywhere (Receptions.ID_Patients etc.).
--
-- Demo-only tables, absent from IDENT: RowVersionCounter, DemoInfo, DeletedRows.
-- DeletedRows is filled by AFTER DELETE triggers so a connector can detect deletions of
-- Receptions, PaymentsIn and Patients by a cheap RowVersion cursor. Real IDENT has no
-- such table: a real profile must re-read a recent window and compare instead.
--
-- The file is split into sections (marker lines "-- section: NAME") because the
-- generator bulk-loads between "tables" and "indexes"/"triggers": creating indexes after
-- the load is faster, and the load supplies RowVersion values itself.

-- section: tables

CREATE TABLE RowVersionCounter (
    ID INTEGER PRIMARY KEY CHECK (ID = 1),
    Value INTEGER NOT NULL
);
INSERT INTO RowVersionCounter (ID, Value) VALUES (1, 0);

CREATE TABLE DemoInfo (
    Key TEXT PRIMARY KEY,
    Value TEXT
);

CREATE TABLE Branches (
    ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL,
    Address TEXT
);

CREATE TABLE Armchairs (
    ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL,
    ID_Branches INTEGER REFERENCES Branches (ID)
);

CREATE TABLE Persons (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    Surname TEXT,
    Name TEXT,
    Patronymic TEXT,
    Birthday TEXT,
    Sex INTEGER,
    MobilePhone TEXT
);

CREATE TABLE OwnPhones (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    ID_Persons INTEGER NOT NULL REFERENCES Persons (ID),
    Phone TEXT,
    PhoneType TEXT
);

CREATE TABLE Families (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    Name TEXT,
    ID_HeadPatients INTEGER REFERENCES Patients (ID_Persons)
);

CREATE TABLE Patients (
    ID_Persons INTEGER PRIMARY KEY REFERENCES Persons (ID),
    PatientNumber INTEGER,
    CardNumber TEXT,
    Status INTEGER NOT NULL DEFAULT 0,
    ConformToSending INTEGER NOT NULL DEFAULT 1,
    SMSRejection INTEGER NOT NULL DEFAULT 0,
    FirstVisit TEXT,
    Comment TEXT,
    ID_Families INTEGER REFERENCES Families (ID),
    DateTimeChanged TEXT,
    RowVersion INTEGER
);

CREATE TABLE ProfessionNames (
    ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL,
    ID_Roles INTEGER NOT NULL
);

CREATE TABLE Items (
    ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL,
    ID_ProfessionNames INTEGER REFERENCES ProfessionNames (ID)
);

CREATE TABLE Staffs (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    ID_Persons INTEGER NOT NULL REFERENCES Persons (ID),
    ID_Items INTEGER REFERENCES Items (ID),
    ID_Branches INTEGER REFERENCES Branches (ID),
    Archive INTEGER NOT NULL DEFAULT 0,
    DateTimeChanged TEXT,
    RowVersion INTEGER
);

CREATE TABLE ReceptionCancelReasons (
    ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL
);

CREATE TABLE AppointmentSources (
    ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL
);

CREATE TABLE Receptions (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    ID_Patients INTEGER NOT NULL REFERENCES Patients (ID_Persons),
    ID_Staffs INTEGER REFERENCES Staffs (ID),
    ID_Armchairs INTEGER REFERENCES Armchairs (ID),
    PlanStart TEXT NOT NULL,
    PlanEnd TEXT NOT NULL,
    PatientAppeared TEXT,
    ReceptionStarted TEXT,
    ReceptionEnded TEXT,
    CheckIssued TEXT,
    ReceptionCanceled TEXT,
    ID_ReceptionCancelReasons INTEGER REFERENCES ReceptionCancelReasons (ID),
    CancelReasonComment TEXT,
    IsNotified INTEGER NOT NULL DEFAULT 0,
    DateTimeNotified TEXT,
    NeedHandReminder INTEGER NOT NULL DEFAULT 0,
    ID_AppointmentSources INTEGER REFERENCES AppointmentSources (ID),
    ExternalUID TEXT,
    -- Demo convenience, not an IDENT column: comma-separated service names.
    Services TEXT,
    DateTimeAdded TEXT,
    DateTimeChanged TEXT,
    RowVersion INTEGER
);

CREATE TABLE CashDescs (
    ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL,
    IsBonus INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE PaymentsIn (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    DateTimePayment TEXT NOT NULL,
    DatePayment TEXT NOT NULL,
    ID_Patients INTEGER NOT NULL REFERENCES Patients (ID_Persons),
    Payment NUMERIC(12, 2) NOT NULL,
    ID_CashDescs INTEGER REFERENCES CashDescs (ID),
    ID_Receptions INTEGER REFERENCES Receptions (ID),
    DateTimeAdded TEXT,
    DateTimeChanged TEXT,
    RowVersion INTEGER
);

CREATE TABLE PaymentsOut (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    DateTimePayment TEXT NOT NULL,
    ID_Patients INTEGER NOT NULL REFERENCES Patients (ID_Persons),
    Payment NUMERIC(12, 2) NOT NULL,
    ID_PaymentsIn INTEGER REFERENCES PaymentsIn (ID),
    Comment TEXT,
    DateTimeAdded TEXT,
    DateTimeChanged TEXT,
    RowVersion INTEGER
);

CREATE TABLE DeletedRows (
    ID INTEGER PRIMARY KEY AUTOINCREMENT,
    TableName TEXT NOT NULL,
    RowID INTEGER NOT NULL,
    RowVersion INTEGER NOT NULL,
    DateTimeDeleted TEXT
);

-- section: indexes

-- UNIQUE makes "a row version never repeats" an enforced invariant, not a hope.
CREATE UNIQUE INDEX IX_Patients_RowVersion ON Patients (RowVersion);
CREATE UNIQUE INDEX IX_Staffs_RowVersion ON Staffs (RowVersion);
CREATE UNIQUE INDEX IX_Receptions_RowVersion ON Receptions (RowVersion);
CREATE UNIQUE INDEX IX_PaymentsIn_RowVersion ON PaymentsIn (RowVersion);
CREATE UNIQUE INDEX IX_PaymentsOut_RowVersion ON PaymentsOut (RowVersion);
CREATE UNIQUE INDEX IX_DeletedRows_RowVersion ON DeletedRows (RowVersion);

CREATE INDEX IX_Armchairs_ID_Branches ON Armchairs (ID_Branches);
CREATE INDEX IX_OwnPhones_ID_Persons ON OwnPhones (ID_Persons);
CREATE INDEX IX_Families_ID_HeadPatients ON Families (ID_HeadPatients);
CREATE INDEX IX_Patients_ID_Families ON Patients (ID_Families);
CREATE INDEX IX_Items_ID_ProfessionNames ON Items (ID_ProfessionNames);
CREATE INDEX IX_Staffs_ID_Persons ON Staffs (ID_Persons);
CREATE INDEX IX_Staffs_ID_Items ON Staffs (ID_Items);
CREATE INDEX IX_Staffs_ID_Branches ON Staffs (ID_Branches);
CREATE INDEX IX_Receptions_ID_Patients ON Receptions (ID_Patients);
-- (staff, start) serves both the foreign key and the double-booking check.
CREATE INDEX IX_Receptions_ID_Staffs_PlanStart ON Receptions (ID_Staffs, PlanStart);
CREATE INDEX IX_Receptions_ID_Armchairs ON Receptions (ID_Armchairs);
-- Mostly NULL: a partial index serves "= ?" lookups at a fraction of the size.
CREATE INDEX IX_Receptions_ID_ReceptionCancelReasons ON Receptions (ID_ReceptionCancelReasons)
WHERE ID_ReceptionCancelReasons IS NOT NULL;
CREATE INDEX IX_Receptions_ID_AppointmentSources ON Receptions (ID_AppointmentSources);
CREATE INDEX IX_Receptions_PlanStart ON Receptions (PlanStart);
CREATE INDEX IX_PaymentsIn_ID_Patients ON PaymentsIn (ID_Patients);
CREATE INDEX IX_PaymentsIn_ID_CashDescs ON PaymentsIn (ID_CashDescs);
CREATE INDEX IX_PaymentsIn_ID_Receptions ON PaymentsIn (ID_Receptions);
CREATE INDEX IX_PaymentsIn_DateTimePayment ON PaymentsIn (DateTimePayment);
CREATE INDEX IX_PaymentsOut_ID_Patients ON PaymentsOut (ID_Patients);
CREATE INDEX IX_PaymentsOut_ID_PaymentsIn ON PaymentsOut (ID_PaymentsIn);
CREATE INDEX IX_DeletedRows_TableName_RowID ON DeletedRows (TableName, RowID);

-- section: triggers

-- RowVersion triggers. Each table gets four:
--   * BEFORE INSERT refuses an explicit RowVersion (SQL Server refuses it too);
--   * BEFORE UPDATE OF RowVersion refuses any value but the one the bump trigger writes;
--   * AFTER INSERT and AFTER UPDATE OF <every other column> take the next counter value.
-- The AFTER UPDATE trigger lists every column except RowVersion, so the bump trigger's
-- own "UPDATE ... SET RowVersion" can never fire it again: no loop even if a connection
-- turns PRAGMA recursive_triggers on (it is off by default). Listing the columns also
-- means an UPDATE that sets a column to its old value still bumps, as in SQL Server.

CREATE TRIGGER TR_Patients_RowVersion_Guard_Insert BEFORE INSERT ON Patients
WHEN NEW.RowVersion IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_Patients_RowVersion_Guard_Update BEFORE UPDATE OF RowVersion ON Patients
WHEN NEW.RowVersion IS NOT (SELECT Value FROM RowVersionCounter WHERE ID = 1)
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_Patients_RowVersion_Insert AFTER INSERT ON Patients
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE Patients SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID_Persons = NEW.ID_Persons;
END;
CREATE TRIGGER TR_Patients_RowVersion_Update AFTER UPDATE OF
    ID_Persons, PatientNumber, CardNumber, Status, ConformToSending, SMSRejection,
    FirstVisit, Comment, ID_Families, DateTimeChanged
ON Patients
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE Patients SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID_Persons = NEW.ID_Persons;
END;

CREATE TRIGGER TR_Staffs_RowVersion_Guard_Insert BEFORE INSERT ON Staffs
WHEN NEW.RowVersion IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_Staffs_RowVersion_Guard_Update BEFORE UPDATE OF RowVersion ON Staffs
WHEN NEW.RowVersion IS NOT (SELECT Value FROM RowVersionCounter WHERE ID = 1)
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_Staffs_RowVersion_Insert AFTER INSERT ON Staffs
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE Staffs SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;
CREATE TRIGGER TR_Staffs_RowVersion_Update AFTER UPDATE OF
    ID, ID_Persons, ID_Items, ID_Branches, Archive, DateTimeChanged
ON Staffs
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE Staffs SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;

CREATE TRIGGER TR_Receptions_RowVersion_Guard_Insert BEFORE INSERT ON Receptions
WHEN NEW.RowVersion IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_Receptions_RowVersion_Guard_Update BEFORE UPDATE OF RowVersion ON Receptions
WHEN NEW.RowVersion IS NOT (SELECT Value FROM RowVersionCounter WHERE ID = 1)
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_Receptions_RowVersion_Insert AFTER INSERT ON Receptions
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE Receptions SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;
CREATE TRIGGER TR_Receptions_RowVersion_Update AFTER UPDATE OF
    ID, ID_Patients, ID_Staffs, ID_Armchairs, PlanStart, PlanEnd, PatientAppeared,
    ReceptionStarted, ReceptionEnded, CheckIssued, ReceptionCanceled,
    ID_ReceptionCancelReasons, CancelReasonComment, IsNotified, DateTimeNotified,
    NeedHandReminder, ID_AppointmentSources, ExternalUID, Services, DateTimeAdded,
    DateTimeChanged
ON Receptions
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE Receptions SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;

CREATE TRIGGER TR_PaymentsIn_RowVersion_Guard_Insert BEFORE INSERT ON PaymentsIn
WHEN NEW.RowVersion IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_PaymentsIn_RowVersion_Guard_Update BEFORE UPDATE OF RowVersion ON PaymentsIn
WHEN NEW.RowVersion IS NOT (SELECT Value FROM RowVersionCounter WHERE ID = 1)
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_PaymentsIn_RowVersion_Insert AFTER INSERT ON PaymentsIn
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE PaymentsIn SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;
CREATE TRIGGER TR_PaymentsIn_RowVersion_Update AFTER UPDATE OF
    ID, DateTimePayment, DatePayment, ID_Patients, Payment, ID_CashDescs, ID_Receptions,
    DateTimeAdded, DateTimeChanged
ON PaymentsIn
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE PaymentsIn SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;

CREATE TRIGGER TR_PaymentsOut_RowVersion_Guard_Insert BEFORE INSERT ON PaymentsOut
WHEN NEW.RowVersion IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_PaymentsOut_RowVersion_Guard_Update BEFORE UPDATE OF RowVersion ON PaymentsOut
WHEN NEW.RowVersion IS NOT (SELECT Value FROM RowVersionCounter WHERE ID = 1)
BEGIN
    SELECT RAISE(ABORT, 'RowVersion is maintained by the database');
END;
CREATE TRIGGER TR_PaymentsOut_RowVersion_Insert AFTER INSERT ON PaymentsOut
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE PaymentsOut SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;
CREATE TRIGGER TR_PaymentsOut_RowVersion_Update AFTER UPDATE OF
    ID, DateTimePayment, ID_Patients, Payment, ID_PaymentsIn, Comment, DateTimeAdded,
    DateTimeChanged
ON PaymentsOut
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    UPDATE PaymentsOut SET RowVersion = (SELECT Value FROM RowVersionCounter WHERE ID = 1)
    WHERE ID = NEW.ID;
END;

-- Deletion log. The time comes from SQLite's wall clock because a trigger cannot see the
-- demo's simulated clock; DemoClinic's delete methods overwrite it with their clock.

CREATE TRIGGER TR_Receptions_Deleted AFTER DELETE ON Receptions
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    INSERT INTO DeletedRows (TableName, RowID, RowVersion, DateTimeDeleted)
    VALUES ('Receptions', OLD.ID, (SELECT Value FROM RowVersionCounter WHERE ID = 1),
            strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime'));
END;

CREATE TRIGGER TR_PaymentsIn_Deleted AFTER DELETE ON PaymentsIn
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    INSERT INTO DeletedRows (TableName, RowID, RowVersion, DateTimeDeleted)
    VALUES ('PaymentsIn', OLD.ID, (SELECT Value FROM RowVersionCounter WHERE ID = 1),
            strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime'));
END;

CREATE TRIGGER TR_Patients_Deleted AFTER DELETE ON Patients
BEGIN
    UPDATE RowVersionCounter SET Value = Value + 1 WHERE ID = 1;
    INSERT INTO DeletedRows (TableName, RowID, RowVersion, DateTimeDeleted)
    VALUES ('Patients', OLD.ID_Persons, (SELECT Value FROM RowVersionCounter WHERE ID = 1),
            strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime'));
END;
